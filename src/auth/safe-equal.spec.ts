import { safeEqual, TokenSet } from './safe-equal.js';

describe('safeEqual', () => {
  it.each([
    ['same', 'same', true],
    ['', '', true],
    ['token', 'tokeN', false],
    ['token', 'token ', false],
    ['token', 'toke', false],
    ['short', 'a much longer secret than the other one', false],
    ['', 'x', false],
    ['é', 'e\u0301', false],
  ])('%j vs %j -> %s', (a, b, expected) => {
    expect(safeEqual(a, b)).toBe(expected);
    expect(safeEqual(b, a)).toBe(expected);
  });
});

describe('TokenSet', () => {
  const set = new TokenSet(['first-token-xxxxxxxx', 'second-token-yyyyyyy']);

  it('knows each of its tokens and nothing else', () => {
    expect(set.size).toBe(2);
    expect(set.has('first-token-xxxxxxxx')).toBe(true);
    expect(set.has('second-token-yyyyyyy')).toBe(true);
    expect(set.has('first-token-xxxxxxx')).toBe(false);
    expect(set.has('first-token-xxxxxxxxx')).toBe(false);
    expect(set.has('')).toBe(false);
  });

  it('matches nothing when empty', () => {
    expect(new TokenSet([]).has('')).toBe(false);
  });

  it('matches a token wherever it stands in the list, and hashes each to 32 bytes', () => {
    const tokens = ['a-token-aaaaaaaaaaaa', 'b-token-bbbbbbbbbbbb', 'c-token-cccccccccccc'];
    const probe = new TokenSet(tokens);
    for (const token of tokens) expect(probe.has(token)).toBe(true);
    expect((probe as unknown as { digests: Buffer[] }).digests.map((d) => d.length)).toEqual([32, 32, 32]);
  });
});
