/**
 * Honest skips. `testIf(condition, reason)` is jest's `test` when the condition holds, else `test.skip` with
 * ` [skipped: <reason>]` appended to every title: jest then reports the test as skipped (not passed) and says
 * why. Decide the condition at module load time. Supports `testIf(c, r)(name, fn)` and
 * `testIf(c, r).each(table)(name, fn)` (array tables only).
 */
type Fn = (...args: never[]) => unknown;
type Register = (name: string, fn?: jest.ProvidesCallback, timeout?: number) => void;
type EachRegister = (name: string, fn: Fn, timeout?: number) => void;

export function testIf(condition: boolean, reason: string): Register & { each: jest.Each } {
  if (condition) return test;
  const suffix = ` [skipped: ${reason}]`;
  const skip: Register = (name, fn, timeout) => test.skip(name + suffix, fn, timeout);
  const skipEach = test.skip.each as unknown as (table: readonly unknown[]) => EachRegister;
  // An .each title is a printf template: a '%' in the reason must print as itself.
  const each =
    (table: readonly unknown[]): EachRegister =>
    (name, fn, timeout) =>
      skipEach(table)(name + suffix.replace(/%/g, '%%'), fn, timeout);
  return Object.assign(skip, { each: each as unknown as jest.Each });
}
