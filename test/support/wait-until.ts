/** What a check returns when it holds. */
type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/**
 * The one polling helper of the specs: calls `check` every 50 ms until it returns a truthy value, and resolves
 * with that value; fails after `timeoutMs`, naming `what` it waited for. A check that throws counts as "not yet"
 * (its last error is in the failure message), so that a check may be written with `expect`.
 * `timeoutMs` is the bound of a wait for a condition, not a time the condition is expected to take.
 */
export async function waitUntil<T>(
  check: () => T | Promise<T>,
  timeoutMs = 5000,
  what = 'a condition',
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as Truthy<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
