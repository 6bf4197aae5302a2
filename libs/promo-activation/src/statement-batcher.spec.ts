import { StatementBatcher } from './statement-batcher';

describe('StatementBatcher', () => {
  it('should run the items of one turn in one call, in order', async () => {
    const calls: number[][] = [];
    const sut = new StatementBatcher<number, number>((items) => {
      calls.push(items);

      return Promise.resolve(items.map((item) => item * 10));
    });

    const results = await Promise.all([1, 2, 3].map((item) => sut.submit(item)));

    expect(results).toEqual([10, 20, 30]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('should gather items that arrive while the slot is busy into the next call', async () => {
    const calls: number[][] = [];
    let release: () => void = () => undefined;
    const sut = new StatementBatcher<number, number>(
      async (items) => {
        calls.push(items);
        if (calls.length === 1) {
          await new Promise<void>((resolve) => (release = resolve));
        }

        return items;
      },
      { maxConcurrent: 1 },
    );

    const first = sut.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    const later = [2, 3, 4].map((item) => sut.submit(item));
    await new Promise((resolve) => setImmediate(resolve));
    release();

    await expect(Promise.all([first, ...later])).resolves.toEqual([1, 2, 3, 4]);
    expect(calls).toEqual([[1], [2, 3, 4]]);
  });

  it('should fail only the bad item when a batch fails with a data error', async () => {
    const sut = new StatementBatcher<number, number>((items) =>
      items.includes(2)
        ? Promise.reject(Object.assign(new Error('check violation'), { code: '23514' }))
        : Promise.resolve(items),
    );

    const results = await Promise.allSettled([1, 2, 3].map((item) => sut.submit(item)));

    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('should fail every item when the batch fails otherwise', async () => {
    let calls = 0;
    const sut = new StatementBatcher<number, number>(() => {
      calls++;

      return Promise.reject(new Error('connection lost'));
    });

    const results = await Promise.allSettled([1, 2].map((item) => sut.submit(item)));

    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toBe(1);
  });

  it('should let items linger into one call, and start at once on flush', async () => {
    const calls: number[][] = [];
    const sut = new StatementBatcher<number, number>(
      (items) => {
        calls.push(items);

        return Promise.resolve(items);
      },
      { lingerMs: 10_000 },
    );

    const first = sut.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    const second = sut.submit(2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual([]);
    expect(sut.pending).toBe(2);

    await sut.flush();

    await expect(Promise.all([first, second])).resolves.toEqual([1, 2]);
    expect(calls).toEqual([[1, 2]]);
    expect(sut.pending).toBe(0);
  });
});
