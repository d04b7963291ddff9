import assert from "node:assert/strict";

/** Assert that `promise` rejects with an instance of `type` whose message contains every fragment. */
export async function assertRejectsWith(
  promise: Promise<unknown>,
  type: new (...args: never[]) => Error,
  ...fragments: string[]
): Promise<void> {
  await assert.rejects(promise, (err: Error) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${err.name}: ${err.message}`);
    for (const fragment of fragments)
      assert.ok(err.message.includes(fragment), `"${err.message}" lacks "${fragment}"`);
    return true;
  });
}
