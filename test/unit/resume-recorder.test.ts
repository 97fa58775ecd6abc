import { describe, expect, it } from 'vitest';
import { ResumeRecorder, type ResumePoint } from '../../src/db/feed-state.js';

const at = (page: number): ResumePoint => ({ url: `http://x/${page}`, page });

describe('ResumeRecorder', () => {
  it('writes one point at a time; points given meanwhile collapse into the latest; the same point is not written twice', async () => {
    const saved: Array<number | null> = [];
    let inFlight = 0;
    let most = 0;
    const r = new ResumeRecorder(async (p) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((res) => setTimeout(res, 5));
      saved.push(p?.page ?? null);
      inFlight--;
    }, () => undefined);
    r.record(at(2));
    r.record(at(3));
    r.record(at(4));
    await r.flush();
    expect(saved).toEqual([2, 4]);
    r.record(at(4));
    await r.flush();
    expect(saved).toEqual([2, 4]);
    r.record(null);
    await r.flush();
    expect(saved).toEqual([2, 4, null]);
    expect(most).toBe(1);
  });

  it('a failed write is a warning, said once; later points are still written', async () => {
    const warned: string[] = [];
    const saved: number[] = [];
    let fail = true;
    const r = new ResumeRecorder(async (p) => {
      if (fail) throw new Error('connection lost');
      saved.push(p!.page);
    }, (m) => warned.push(m));
    r.record(at(2));
    await r.flush();
    r.record(at(3));
    await r.flush();
    fail = false;
    r.record(at(4));
    await r.flush();
    expect(warned).toEqual(['warning: could not record where the feed stands (connection lost); a rerun may read pages already committed again']);
    expect(saved).toEqual([4]);
  });
});
