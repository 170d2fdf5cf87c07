import { describe, expect, it } from 'vitest';
import { QueryImageTokens } from '../../src/search/query-image-tokens.ts';

const v = (x: number) => Float32Array.from([x, 0, 0]);

describe('query image tokens', () => {
  it('gives back the vector (and image id) a token was issued for', () => {
    const tokens = new QueryImageTokens();
    const a = tokens.put(v(1));
    const b = tokens.put(v(2), 7);
    expect(a).toMatch(/^[\w-]{24}$/);
    expect(a).not.toBe(b);
    expect(tokens.get(a)).toEqual({ vector: v(1) });
    expect(tokens.get(b)).toEqual({ vector: v(2), imageId: 7 });
  });

  it('refuses a token never issued with NOT_FOUND that says to send the image again', () => {
    expect(() => new QueryImageTokens().get('nope')).toThrow(/unknown or expired: send the image again/);
  });

  it('expires a token a TTL after its last use, not after it was issued', () => {
    let now = 0;
    const tokens = new QueryImageTokens({ ttlMs: 100, now: () => now });
    const a = tokens.put(v(1));
    now = 90;
    expect(tokens.get(a).vector).toEqual(v(1));
    now = 180;
    expect(tokens.get(a).vector).toEqual(v(1));
    now = 280;
    expect(() => tokens.get(a)).toThrow(/expired/);
    expect(tokens.size).toBe(0);
  });

  it('keeps at most `max` tokens and evicts the least recently used', () => {
    const tokens = new QueryImageTokens({ max: 2 });
    const a = tokens.put(v(1));
    const b = tokens.put(v(2));
    tokens.get(a);
    const c = tokens.put(v(3));
    expect(tokens.size).toBe(2);
    expect(() => tokens.get(b)).toThrow(/unknown/);
    expect(tokens.get(a).vector).toEqual(v(1));
    expect(tokens.get(c).vector).toEqual(v(3));
  });
});
