/**
 * Schemas: a map value's layout declared by hand (`{ packets: "u64", bytes: "u64" }`), and the
 * TypeScript types that follow from one, so `decode(v).total.packets` is a `bigint` and a
 * misspelt field is a compile error. Also the per-CPU aggregation rules.
 */
import type { Decoded } from "./decode.ts";

/** Scalar names a schema can use. */
export type SchemaScalar =
  | "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64" | "bool" | "char" | "f32" | "f64"
  | "spin_lock";

/**
 * How a per-CPU field's values combine into one total:
 * - `sum`: add every CPU's value (the default for integers: counters);
 * - `max` / `min`: the largest / smallest CPU's value (gauges such as a last length or a peak);
 * - `or`: bitwise OR of integers, logical OR of booleans (the default for bools: flags);
 * - `first`: the first CPU whose value is not zero or empty (the default for everything else:
 *   enums, chars, strings, floats). A CPU that never ran the program holds zeroes.
 */
export type AggregateRule = "sum" | "max" | "min" | "or" | "first";

/** Every rule, for checks at run time. */
export const AGGREGATE_RULES: readonly AggregateRule[] = ["sum", "max", "min", "or", "first"];

type SchemaLeaf = SchemaScalar | `${SchemaScalar}[${number}]`;

/**
 * A hand-declared layout: scalars by name, `"u32[4]"` arrays, nested objects for structs, laid
 * out with C's alignment rules. A per-CPU aggregation rule may follow a scalar or array after a
 * colon: `{ packets: "u64", last_len: "u32:max" }`.
 */
export type Schema = { readonly [field: string]: SchemaLeaf | `${SchemaLeaf}:${AggregateRule}` | Schema };

type Unruled<S extends string> = S extends `${infer Base}:${AggregateRule}` ? Base : S;

type ScalarValue<S extends string> =
  S extends "u64" | "i64" ? bigint
  : S extends "bool" ? boolean
  : S extends "u8" | "u16" | "u32" | "i8" | "i16" | "i32" | "f32" | "f64" | "char" ? number
  : never;

type LeafValue<S extends string> =
  S extends `char[${number}]` ? string
  : S extends `${infer E}[${number}]` ? ScalarValue<E>[]
  : ScalarValue<S>;

type FieldValue<F> = F extends string ? LeafValue<Unruled<F>> : F extends Schema ? SchemaValue<F> : never;

/**
 * The decoded value a schema describes: `{ packets: "u64", n: "u32" }` →
 * `{ packets: bigint; n: number }`. Spin locks are left out (decode skips them).
 */
export type SchemaValue<S extends Schema> = {
  -readonly [K in keyof S as S[K] extends "spin_lock" | `spin_lock:${string}` ? never : K]: FieldValue<S[K]>;
};

/** `T` with every `bigint` (a 64-bit integer) as `number`: what `decode(v, { int64: "number" })` gives. */
export type Int64AsNumber<T> =
  T extends bigint ? number
  : T extends readonly (infer E)[] ? Int64AsNumber<E>[]
  : T extends object ? { [K in keyof T]: Int64AsNumber<T[K]> }
  : T;

/** A decoded struct of a map that carries no type information: fields by name. */
export type DecodedStruct = { [field: string]: Decoded };

/**
 * Field paths of a decoded value type: `"packets"`, `"inner.count"`, `"hist[3]"`; any string
 * for a value type with no known fields.
 */
export type FieldPath<T> =
  string extends keyof T ? string
  : {
      [K in keyof T & string]: T[K] extends readonly unknown[] ? K | `${K}[${number}]`
        : T[K] extends bigint | number | boolean | string ? K
        : K | `${K}.${FieldPath<T[K]>}`;
    }[keyof T & string];

/** Per-CPU aggregation rules by field path (`{ last_len: "max" }`). */
export type AggregateRules<T = DecodedStruct> = { readonly [P in FieldPath<T>]?: AggregateRule };
