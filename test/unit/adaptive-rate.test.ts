import { describe, expect, it } from 'vitest';
import { AdaptiveRate } from '../../src/http/adaptive-rate.js';

describe('AdaptiveRate', () => {
  it('starts at the ceiling and never goes above it', () => {
    const a = new AdaptiveRate({ ceiling: 100 });
    expect(a.rate).toBe(100);
    for (let i = 0; i < 1000; i++) a.onSuccess();
    expect(a.rate).toBe(100);
    expect(a.figures()).toEqual({ start: 100, lowest: 100, end: 100 });
  });

  it.each([
    // [ceiling, throttled answers as [sent, answered] (ms), rate after them]
    [200, [[0, 10]], 140],
    [200, [[0, 10], [5, 12], [9, 30]], 140], // sent before the cut: no further cut
    [200, [[0, 10], [10, 20]], 98], // sent at the cut: counts
    [200, [[0, 10], [10, 20], [20, 30], [30, 40]], 48.02],
    [4, [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]], 1], // the floor
    [0.5, [[0, 1], [1, 2]], 0.5], // a ceiling under the floor stays put
  ])('ceiling %d, throttled %j: rate %d', (ceiling, answers, rate) => {
    const a = new AdaptiveRate({ ceiling });
    for (const [sent, at] of answers) a.onThrottled(sent!, at!);
    expect(a.rate).toBeCloseTo(rate, 6);
    expect(a.figures().lowest).toBe(Math.round(rate * 10) / 10);
    expect(a.throttled).toBe(answers.length);
  });

  it('climbs back by about `step` requests per second for each second of successes', () => {
    const a = new AdaptiveRate({ ceiling: 200, step: 4, decrease: 0.5 });
    a.onThrottled(0, 1);
    a.onThrottled(1, 2); // 50
    // One second of successes at the current rate.
    let n = 0;
    for (let sent = 0; sent < 50; sent++, n++) a.onSuccess();
    expect(a.rate).toBeGreaterThan(53.5);
    expect(a.rate).toBeLessThan(54.5);
    expect(a.figures()).toEqual({ start: 200, lowest: 50, end: Math.round(a.rate * 10) / 10 });
    expect(n).toBe(50);
  });

  it('suggests the lowest rate reached, rounded down, at least 1', () => {
    const a = new AdaptiveRate({ ceiling: 150 });
    a.onThrottled(0, 100);
    a.onThrottled(200, 300);
    expect(a.suggestedRate()).toBe(73); // 150 * 0.7 * 0.7 = 73.5
    expect(new AdaptiveRate({ ceiling: 0.2 }).suggestedRate()).toBe(1);
  });

  it('refuses a ceiling that is not a positive number', () => {
    expect(() => new AdaptiveRate({ ceiling: 0 })).toThrow('Expected `ceiling` to be a number above 0, got 0');
  });
});
