/**
 * The shared case list (test/cases/) agrees with the library: its topologies are exactly lib/topology.ts's
 * configurations (paper Table 1), and every conv case is a shape the kernels accept.
 */
import { ARCHS, layerProgram, resolveConfig } from '../lib';
import { convCases, lrnCases, outHW, poolCases, topologyCases } from './support/cases';

describe('test/cases', () => {
  test('topologies.tsv holds the six configurations of lib/topology.ts, field for field', () => {
    const cases = topologyCases();
    expect(cases.map((c) => c.name).sort()).toEqual(Object.keys(ARCHS).sort());
    for (const c of cases) {
      const cfg = resolveConfig(c.name);
      expect({
        inChannels: c.inChannels,
        inputSize: c.inputSize,
        lrn: c.lrn,
        fc: c.fc,
        numClasses: c.numClasses,
      }).toEqual({
        inChannels: cfg.inChannels,
        inputSize: cfg.inputSize,
        lrn: cfg.lrn ?? false,
        fc: cfg.fc,
        numClasses: cfg.numClasses,
      });
      expect(c.stages).toEqual(
        cfg.stages.map((st) => st.map((d) => (typeof d === 'number' ? { channels: d, kernel: 3 } : d))),
      );
      // The conv layers a reader builds from the file are the library's layer program.
      const convs = layerProgram(cfg).filter((s) => s.kind === 'conv');
      expect(convs.length).toBe(c.stages.flat().length + c.fc.length + 1);
    }
  });

  test('every case has a unique name and a valid shape', () => {
    const conv = convCases();
    expect(new Set(conv.map((c) => c.name)).size).toBe(conv.length);
    for (const c of conv) {
      const [P, Q] = outHW(c.s);
      expect(P >= 1 && Q >= 1 && Object.values(c.s).every(Number.isInteger)).toBe(true);
      expect(c.tags.length).toBeGreaterThan(0);
    }
    for (const c of poolCases()) expect(c.s.H >= c.s.window && c.s.W >= c.s.window).toBe(true);
    for (const c of lrnCases()) expect(c.p.size).toBeGreaterThanOrEqual(1);
    expect(convCases('smoke').length).toBeGreaterThan(5);
  });
});
