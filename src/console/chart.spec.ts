// The chart's colours (src/console/public/chart.js); drawing needs a canvas and is covered by the Chromium e2e spec.
import { Palette } from './public/chart.js';
import { ConsoleModel } from './public/console-model.js';

const event = (name: string) => JSON.stringify({ event_name: name, session_id: 's', timestamp: 1, version: 1 });

describe('Palette', () => {
  it('keeps the colours of the names the model counts apart, however many distinct names arrive', () => {
    const model = new ConsoleModel({ maxNames: 40 });
    const palette = new Palette(model.maxGroups);
    const first = palette.colorOf(model.add(event('CUSTOM_0'))!.group);
    for (let i = 0; i < 20_000; i++) palette.colorOf(model.add(event(`CUSTOM_${i}`))!.group);
    expect(palette.size).toBeLessThanOrEqual(model.maxGroups);
    expect(palette.size).toBeGreaterThan(30);
    expect(palette.colorOf('CUSTOM_0')).toBe(first);
  });

  it('holds at most its capacity of names, forgetting the least recently coloured', () => {
    const palette = new Palette(5);
    const kept = palette.colorOf('kept');
    for (let i = 0; i < 1000; i++) {
      palette.colorOf(`name-${i}`);
      palette.colorOf('kept');
    }
    expect(palette.size).toBe(5);
    expect(palette.colorOf('kept')).toBe(kept);
  });

  it('gives the known names their fixed colour and any other name, Object members included, a palette colour', () => {
    const palette = new Palette(10);
    expect(palette.colorOf('HEARTBEAT')).toBe('#3b7ddd');
    for (const name of ['toString', '__proto__', 'constructor', 'hasOwnProperty', 'valueOf']) {
      expect(palette.colorOf(name)).toMatch(/^#[0-9a-f]{6}$/);
    }
    expect(palette.size).toBe(5);
  });
});
