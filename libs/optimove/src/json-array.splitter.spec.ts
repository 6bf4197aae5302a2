import { parseJsonArrayInGroups } from './json-array.splitter';

function chunked(text: string, size: number): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    chunks.push(bytes.subarray(i, i + size));
  }

  return chunks;
}

describe('parseJsonArrayInGroups', () => {
  const rows = Array.from({ length: 500 }, (_, n) => ({
    CustomerID: `C${n}`,
    PromoCode: n % 3 === 0 ? 'a,b]}{"\\' : null,
    Name: 'Zoë 😀',
    Tags: [n, { x: [1, 2] }],
  }));
  const text = ` ${JSON.stringify(rows)} `;

  it('should give the same rows as JSON.parse whatever the chunking and group size', () => {
    for (const [chunkSize, groupBytes] of [
      [1, 64],
      [7, 1000],
      [4096, 100],
      [1 << 20, 1 << 20],
    ]) {
      const groups = parseJsonArrayInGroups(chunked(text, chunkSize), groupBytes);

      expect(groups?.flat()).toEqual(rows);
    }
    expect(parseJsonArrayInGroups(chunked(text, 3), 64)?.length).toBeGreaterThan(1);
  });

  it('should read an empty array and refuse what is not one well-formed array', () => {
    expect(parseJsonArrayInGroups(chunked('[]', 1))).toEqual([]);
    for (const bad of ['', '{"value":[]}', '[1,2', '[1,2,]', '[1] [2]', '"text"']) {
      expect(parseJsonArrayInGroups(chunked(bad, 2), 1)).toBeUndefined();
    }
  });
});
