import { describe, expect, it } from 'vitest';
import { MAX_POINTS, rates, sparkline, Timeline, type Point } from '../../src/timeline.js';
import { niceScale, runSvg } from '../../src/runs/chart.js';

describe('Timeline', () => {
  it('keeps at most MAX_POINTS however long the run, the first point kept, the interval doubling', () => {
    const t = new Timeline(1000);
    for (let s = 0; s <= 10_000; s += 0.25) t.offer([s, s * 100, s * 90, 50]);
    const d = t.data();
    expect(d.points.length).toBeLessThanOrEqual(MAX_POINTS);
    expect(d.points.length).toBeGreaterThan(MAX_POINTS / 2);
    expect(d.points[0][0]).toBe(0);
    expect(d.interval_ms).toBe(32_000);
    // Evenly spaced after the halvings.
    const gaps = new Set(d.points.slice(1).map((p, i) => p[0] - d.points[i][0]));
    expect([...gaps].every((g) => g === 16 || g === 32)).toBe(true);
  });

  it('takes a point only once an interval has passed, unless forced (the last one)', () => {
    const t = new Timeline(1000);
    t.offer([0, 0, 0, 1]);
    t.offer([0.5, 5, 0, 1]);
    t.offer([1, 10, 0, 1]);
    t.offer([1.2, 12, 0, 1], true);
    expect(t.data().points.map((p) => p[0])).toEqual([0, 1, 1.2]);
  });
});

describe('rates and sparkline', () => {
  const pts: Point[] = [[0, 0, 0, 50], [1, 100, 0, 50], [2, 300, 0, 51], [3, 300, 0, 51], [4, 700, 0, 52]];
  it('rows per second between points', () => expect(rates(pts)).toEqual([[1, 100], [2, 200], [3, 0], [4, 400]]));
  it('draws the shape in block characters, highest = full block', () => expect(sparkline(pts)).toBe('▃▅▁█'));
  it('says nothing for a run too short to have a shape', () => expect(sparkline(pts.slice(0, 2))).toBe(''));
});

describe('chart', () => {
  it.each([
    [0, [1, 5]],
    [7, [2, 8]],
    [95.6, [20, 100]],
    [27_412, [10_000, 30_000]],
  ])('niceScale(%d) -> %j', (max, expected) => expect(niceScale(max as number)).toEqual(expected));

  it('escapes what it prints of the run, and draws both series', () => {
    const svg = runSvg({ interval_ms: 1000, points: [[0, 0, 0, 50], [1, 100, 90, 60], [2, 300, 250, 61]], phases: [{ name: 'connect', start: 0, end: 0.2 }] }, { title: 'cars import <a&b>.csv', subtitle: '\u001b[2Jx' });
    expect(svg).toContain('cars import &lt;a&amp;b&gt;.csv');
    expect(svg).not.toContain('\u001b');
    expect(svg).toMatch(/<path id="rows-per-second" d="M/);
    expect(svg).toMatch(/<path id="rss" d="M/);
    expect(svg).toMatch(/<title>connect: 0\.2 s<\/title>/);
  });
});
