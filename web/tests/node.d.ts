// The few Node APIs the unit tests use, typed by hand: the client has no @types/node (and
// adds no dependency for it). Only what tests/*.test.ts call is declared.

declare module "node:test" {
  type Body = () => void | Promise<void>;
  export function describe(name: string, body: Body): void;
  export function test(name: string, body: Body): void;
}

declare module "node:assert/strict" {
  interface Assert {
    ok(value: unknown, message?: string): asserts value;
    equal<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
    notEqual(actual: unknown, expected: unknown, message?: string): void;
    deepEqual<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
    notDeepEqual(actual: unknown, expected: unknown, message?: string): void;
    match(value: string, pattern: RegExp, message?: string): void;
    throws(fn: () => unknown, expected?: RegExp | { message?: string | RegExp; name?: string }, message?: string): void;
    doesNotThrow(fn: () => unknown, message?: string): void;
    rejects(promise: Promise<unknown>, expected?: RegExp | { message?: string | RegExp; name?: string }, message?: string): Promise<void>;
  }
  const assert: Assert;
  export default assert;
}

declare module "node:fs" {
  export function readFileSync(path: string | URL, encoding: "utf8"): string;
}
