/** Retries `check` until it stops throwing, every 25 ms for at most `timeoutMs`; then rethrows its last error. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

/** Polls `check` every 50 ms until it holds; fails after `timeoutMs`, naming `what` it waited for. */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 5000,
  what = 'a condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
