;; cgstore: exact sums of per-CPU u64 counters (src/maps/wasm-sum.ts holds these bytes, assembled
;; with `wat2wasm --enable-threads sum.wat`; test/unit/percpu-values.test.ts checks they match).
;; The memory is imported and shared: per-CPU values live in it (zero copy); i64 adds wrap at 2^64.
(module
  (import "cgstore" "memory" (memory 1 65536 shared))
  ;; Σ over `cpus` slots `stride` bytes apart of the u64 at byte `at`, as an f64 (exact < 2^53).
  (func $sum (export "sum") (param $at i32) (param $stride i32) (param $cpus i32) (result f64)
    (local $a0 i64) (local $a1 i64) (local $a2 i64) (local $a3 i64) (local $s4 i32)
    (local.set $s4 (i32.shl (local.get $stride) (i32.const 2)))
    (block $tail4
      (loop $four
        (br_if $tail4 (i32.lt_u (local.get $cpus) (i32.const 4)))
        (local.set $a0 (i64.add (local.get $a0) (i64.load (local.get $at))))
        (local.set $a1 (i64.add (local.get $a1) (i64.load (i32.add (local.get $at) (local.get $stride)))))
        (local.set $a2 (i64.add (local.get $a2) (i64.load (i32.add (local.get $at) (i32.shl (local.get $stride) (i32.const 1))))))
        (local.set $a3 (i64.add (local.get $a3) (i64.load (i32.add (local.get $at) (i32.mul (local.get $stride) (i32.const 3))))))
        (local.set $at (i32.add (local.get $at) (local.get $s4)))
        (local.set $cpus (i32.sub (local.get $cpus) (i32.const 4)))
        (br $four)))
    (block $done
      (loop $one
        (br_if $done (i32.eqz (local.get $cpus)))
        (local.set $a0 (i64.add (local.get $a0) (i64.load (local.get $at))))
        (local.set $at (i32.add (local.get $at) (local.get $stride)))
        (local.set $cpus (i32.sub (local.get $cpus) (i32.const 1)))
        (br $one)))
    (local.set $a0 (i64.add (i64.add (local.get $a0) (local.get $a1)) (i64.add (local.get $a2) (local.get $a3))))
    (if (result f64) (i64.lt_s (local.get $a0) (i64.const 0)) (then (f64.convert_i64_u (local.get $a0))) (else (f64.convert_i64_s (local.get $a0)))))
  ;; Sums become f64s by the signed conversion (one instruction) unless ≥ 2^63, where the unsigned
  ;; one (a longer sequence on x86-64: 13 vs 9 ns for 2 CPUs × 64 B under Bun) gives what it always did.
  ;; sum over `fields` consecutive u64s from byte `at`: each field's sum, as an f64, to `out` + 8 × field.
  ;; Many CPUs: field by field (four CPUs per step into four registers, above). 1–15 CPUs: CPU by
  ;; CPU, eight fields at a time in eight registers (one pass over each slot: at 2 CPUs × 64 B
  ;; this ran in ~6 ns under Bun, the quad loop below in ~12), then four at a time, then one.
  (func (export "sum_fields") (param $at i32) (param $stride i32) (param $cpus i32) (param $fields i32) (param $out i32)
    (local $p i32) (local $c i32) (local $a0 i64) (local $a1 i64) (local $a2 i64) (local $a3 i64)
    (local $a4 i64) (local $a5 i64) (local $a6 i64) (local $a7 i64)
    (if (i32.lt_u (i32.sub (local.get $cpus) (i32.const 1)) (i32.const 15))
      (then
        (block $octs_done
          (loop $oct
            (br_if $octs_done (i32.lt_u (local.get $fields) (i32.const 8)))
            (local.set $a0 (i64.const 0)) (local.set $a1 (i64.const 0)) (local.set $a2 (i64.const 0)) (local.set $a3 (i64.const 0)) (local.set $a4 (i64.const 0)) (local.set $a5 (i64.const 0)) (local.set $a6 (i64.const 0)) (local.set $a7 (i64.const 0))
            (local.set $p (local.get $at))
            (local.set $c (local.get $cpus))
            (loop $cpu8
                (local.set $a0 (i64.add (local.get $a0) (i64.load offset=0 (local.get $p))))
                (local.set $a1 (i64.add (local.get $a1) (i64.load offset=8 (local.get $p))))
                (local.set $a2 (i64.add (local.get $a2) (i64.load offset=16 (local.get $p))))
                (local.set $a3 (i64.add (local.get $a3) (i64.load offset=24 (local.get $p))))
                (local.set $a4 (i64.add (local.get $a4) (i64.load offset=32 (local.get $p))))
                (local.set $a5 (i64.add (local.get $a5) (i64.load offset=40 (local.get $p))))
                (local.set $a6 (i64.add (local.get $a6) (i64.load offset=48 (local.get $p))))
                (local.set $a7 (i64.add (local.get $a7) (i64.load offset=56 (local.get $p))))
              (local.set $p (i32.add (local.get $p) (local.get $stride)))
              (br_if $cpu8 (local.tee $c (i32.sub (local.get $c) (i32.const 1)))))
            (f64.store offset=0 (local.get $out) (if (result f64) (i64.lt_s (local.get $a0) (i64.const 0)) (then (f64.convert_i64_u (local.get $a0))) (else (f64.convert_i64_s (local.get $a0)))))
            (f64.store offset=8 (local.get $out) (if (result f64) (i64.lt_s (local.get $a1) (i64.const 0)) (then (f64.convert_i64_u (local.get $a1))) (else (f64.convert_i64_s (local.get $a1)))))
            (f64.store offset=16 (local.get $out) (if (result f64) (i64.lt_s (local.get $a2) (i64.const 0)) (then (f64.convert_i64_u (local.get $a2))) (else (f64.convert_i64_s (local.get $a2)))))
            (f64.store offset=24 (local.get $out) (if (result f64) (i64.lt_s (local.get $a3) (i64.const 0)) (then (f64.convert_i64_u (local.get $a3))) (else (f64.convert_i64_s (local.get $a3)))))
            (f64.store offset=32 (local.get $out) (if (result f64) (i64.lt_s (local.get $a4) (i64.const 0)) (then (f64.convert_i64_u (local.get $a4))) (else (f64.convert_i64_s (local.get $a4)))))
            (f64.store offset=40 (local.get $out) (if (result f64) (i64.lt_s (local.get $a5) (i64.const 0)) (then (f64.convert_i64_u (local.get $a5))) (else (f64.convert_i64_s (local.get $a5)))))
            (f64.store offset=48 (local.get $out) (if (result f64) (i64.lt_s (local.get $a6) (i64.const 0)) (then (f64.convert_i64_u (local.get $a6))) (else (f64.convert_i64_s (local.get $a6)))))
            (f64.store offset=56 (local.get $out) (if (result f64) (i64.lt_s (local.get $a7) (i64.const 0)) (then (f64.convert_i64_u (local.get $a7))) (else (f64.convert_i64_s (local.get $a7)))))
            (local.set $at (i32.add (local.get $at) (i32.const 64)))
            (local.set $out (i32.add (local.get $out) (i32.const 64)))
            (local.set $fields (i32.sub (local.get $fields) (i32.const 8)))
            (br $oct)))
        (block $quads_done
          (loop $quad
            (br_if $quads_done (i32.lt_u (local.get $fields) (i32.const 4)))
            (local.set $a0 (i64.const 0)) (local.set $a1 (i64.const 0))
            (local.set $a2 (i64.const 0)) (local.set $a3 (i64.const 0))
            (local.set $p (local.get $at))
            (local.set $c (local.get $cpus))
            (loop $cpu4
              (local.set $a0 (i64.add (local.get $a0) (i64.load offset=0 (local.get $p))))
              (local.set $a1 (i64.add (local.get $a1) (i64.load offset=8 (local.get $p))))
              (local.set $a2 (i64.add (local.get $a2) (i64.load offset=16 (local.get $p))))
              (local.set $a3 (i64.add (local.get $a3) (i64.load offset=24 (local.get $p))))
              (local.set $p (i32.add (local.get $p) (local.get $stride)))
              (br_if $cpu4 (local.tee $c (i32.sub (local.get $c) (i32.const 1)))))
            (f64.store offset=0 (local.get $out) (if (result f64) (i64.lt_s (local.get $a0) (i64.const 0)) (then (f64.convert_i64_u (local.get $a0))) (else (f64.convert_i64_s (local.get $a0)))))
            (f64.store offset=8 (local.get $out) (if (result f64) (i64.lt_s (local.get $a1) (i64.const 0)) (then (f64.convert_i64_u (local.get $a1))) (else (f64.convert_i64_s (local.get $a1)))))
            (f64.store offset=16 (local.get $out) (if (result f64) (i64.lt_s (local.get $a2) (i64.const 0)) (then (f64.convert_i64_u (local.get $a2))) (else (f64.convert_i64_s (local.get $a2)))))
            (f64.store offset=24 (local.get $out) (if (result f64) (i64.lt_s (local.get $a3) (i64.const 0)) (then (f64.convert_i64_u (local.get $a3))) (else (f64.convert_i64_s (local.get $a3)))))
            (local.set $at (i32.add (local.get $at) (i32.const 32)))
            (local.set $out (i32.add (local.get $out) (i32.const 32)))
            (local.set $fields (i32.sub (local.get $fields) (i32.const 4)))
            (br $quad)))))
    (block $done
      (loop $field
        (br_if $done (i32.eqz (local.get $fields)))
        (f64.store (local.get $out) (call $sum (local.get $at) (local.get $stride) (local.get $cpus)))
        (local.set $at (i32.add (local.get $at) (i32.const 8)))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (local.set $fields (i32.sub (local.get $fields) (i32.const 1)))
        (br $field)))))
