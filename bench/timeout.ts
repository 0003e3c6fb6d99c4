/**
 * Waits for `promise` or `ms`, whichever comes first, and clears the timer either way (a pending
 * `Bun.sleep` would keep the process alive after the report is printed). True if the promise won.
 *
 * @example
 * if (!(await settlesWithin(child.exited, 20_000))) child.kill("SIGKILL");
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true as const, () => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
