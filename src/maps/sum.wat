;; cgstore: exact sums of per-CPU u64 counters (src/maps/wasm-sum.ts holds these bytes, assembled
;; with `wat2wasm --enable-threads sum.wat`; test/unit/percpu-values.test.ts checks they match).
;; The memory is imported and shared: per-CPU values live in it (zero copy); i64 adds wrap at 2^64.
(module
  (import "cgstore" "memory" (memory 1 65536 shared))
  ;; Σ over `cpus` slots `stride` bytes apart of the u64 at byte `at`, as an f64 (exact < 2^53).
  (func (export "sum") (param $at i32) (param $stride i32) (param $cpus i32) (result f64)
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
    (f64.convert_i64_u (i64.add (i64.add (local.get $a0) (local.get $a1)) (i64.add (local.get $a2) (local.get $a3))))))
