// Types of chart.js, for the unit spec that runs its DOM-free parts under Node.
/// <reference lib="dom" />
export declare class Palette {
  constructor(capacity: number);
  readonly capacity: number;
  /** Names holding a palette colour. */
  readonly size: number;
  colorOf(name: string): string;
}

export declare function stackOrder(series: Map<string, number[]>): string[];

export declare function drawChart(
  canvas: HTMLCanvasElement,
  data: { seconds: number[]; series: Map<string, number[]> },
  palette: Palette,
): number;
