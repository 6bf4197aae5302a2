import { SlidingWindowRateLimiter } from './sliding-window.rate-limiter';

describe(SlidingWindowRateLimiter.name, () => {
  it('should grant at most the limit within a window, first come first served', async () => {
    const sut = new SlidingWindowRateLimiter(2, 100);
    const order: number[] = [];
    const started = Date.now();

    await Promise.all([0, 1, 2, 3, 4].map((n) => sut.acquire().then(() => order.push(n))));

    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(195);
  });

  it('should reject a waiter whose signal aborts and keep serving the others', async () => {
    const sut = new SlidingWindowRateLimiter(1, 100);
    await sut.acquire();
    const controller = new AbortController();

    const aborted = sut.acquire(controller.signal);
    const next = sut.acquire();
    controller.abort(new Error('stop'));

    await expect(aborted).rejects.toThrow('stop');
    await expect(next).resolves.toBeUndefined();
  });

  it('should hold every permit back while paused', async () => {
    const sut = new SlidingWindowRateLimiter(10, 1000);
    sut.pauseFor(150);
    const started = Date.now();

    await sut.acquire();

    expect(Date.now() - started).toBeGreaterThanOrEqual(145);
  });
});
