import { CustomerIdSet } from './customer-id.set';

describe(CustomerIdSet.name, () => {
  it('should report each ID new exactly once, through growth', () => {
    const sut = new CustomerIdSet();

    let added = 0;
    for (let n = 0; n < 200_000; n++) {
      added += sut.add(`C${n}`) ? 1 : 0;
    }
    let again = 0;
    for (let n = 0; n < 200_000; n += 7) {
      again += sut.add(`C${n}`) ? 1 : 0;
    }

    expect(added).toBe(200_000);
    expect(again).toBe(0);
    expect(sut.size).toBe(200_000);
    expect(sut.has('C199999')).toBe(true);
    expect(sut.has('C200000')).toBe(false);
    expect(sut.byteLength).toBeLessThanOrEqual(200_000 * 2 * 8 * 2);
  });

  it('should tell apart IDs that differ only slightly', () => {
    const sut = new CustomerIdSet();

    expect(['1', '01', '10', 'a', 'A', '', ' '].map((id) => sut.add(id))).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
  });
});
