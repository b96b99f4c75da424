// The live loss curve: one polyline on a canvas, rescaled to the losses seen so far.
export class LossChart {
  readonly losses: number[] = [];
  constructor(private readonly canvas: HTMLCanvasElement) {}

  clear(): void {
    this.losses.length = 0;
    this.draw();
  }

  push(loss: number): void {
    this.losses.push(loss);
    this.draw();
  }

  private draw(): void {
    const c = this.canvas, g = c.getContext('2d')!;
    const w = c.width, h = c.height, pad = 24;
    g.clearRect(0, 0, w, h);
    g.strokeStyle = '#ccc';
    g.strokeRect(pad, 4, w - pad - 4, h - pad - 4);
    const n = this.losses.length;
    if (n < 2) return;
    const max = Math.max(...this.losses), min = Math.min(...this.losses), span = max - min || 1;
    g.fillStyle = '#555';
    g.font = '10px sans-serif';
    g.fillText(max.toFixed(2), 0, 12);
    g.fillText(min.toFixed(2), 0, h - pad);
    g.strokeStyle = '#c0392b';
    g.beginPath();
    this.losses.forEach((l, i) => {
      const x = pad + ((w - pad - 6) * i) / (n - 1), y = 6 + ((h - pad - 8) * (max - l)) / span;
      if (i) g.lineTo(x, y);
      else g.moveTo(x, y);
    });
    g.stroke();
  }
}
