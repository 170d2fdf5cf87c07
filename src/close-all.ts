/**
 * Closing in the presence of failures. A final index checkpoint can fail (a full disk); the
 * database must still be closed after it, and a command's own failure must stay the one reported.
 */

/**
 * Runs every closer, last registered first, even when some fail, and rethrows the first failure.
 * Each closer is removed before it runs, so a second call does nothing.
 */
export async function closeAll(closers: (() => Promise<unknown>)[]): Promise<void> {
  const failures: unknown[] = [];
  for (let close = closers.pop(); close; close = closers.pop()) {
    try {
      await close();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
}

/**
 * `run`, then `close` whatever happened. If `run` failed, its error is the one thrown and a
 * failure to close is handed to `onCloseError` (to be logged) instead of replacing it. If only
 * closing failed, that failure is thrown: a command whose final checkpoint failed must not exit 0.
 */
export async function runThenClose<T>(
  run: () => Promise<T>,
  close: () => Promise<void>,
  onCloseError: (error: unknown) => void,
): Promise<T> {
  let result: T;
  try {
    result = await run();
  } catch (error) {
    await close().catch(onCloseError);
    throw error;
  }
  await close();
  return result;
}
