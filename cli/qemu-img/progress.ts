/**
 * `-p` progress as qemu-progress.c prints it: `    (NN.NN/100%)` and a carriage return on
 * stdout, reprinted when the value has moved more than one point (or reaches 100), and a newline
 * at the end. The real tool prints the same bytes whether or not stdout is a terminal.
 */
import { writeOut } from "./report.ts";

export class Progress {
  #current = 0;
  #last = 0;
  #minSkip = 1;

  start(): void {
    this.#print(0);
  }

  /** Sets the percentage done. */
  update(percent: number): void {
    this.#current = percent;
    if (percent === 0 || percent - this.#last > this.#minSkip || percent === 100) this.#print(percent);
  }

  end(): void {
    this.#print(100);
    writeOut("\n");
  }

  #print(value: number): void {
    this.#last = value;
    this.#current = value;
    writeOut(`    (${fixed2(value)}/100%)\r`);
  }
}

/**
 * printf("%.2f"): like toFixed(2), but an exact tie rounds to even as glibc does (3.125 -> 3.12).
 * A double is a tie at two decimals exactly when it is an odd number of eighths (v * 8 is exact).
 */
export function fixed2(v: number): string {
  const eighths = v * 8;
  if (Number.isInteger(eighths) && eighths % 2 !== 0) {
    const floor = Math.floor(v * 100);
    return ((floor % 2 === 0 ? floor : floor + 1) / 100).toFixed(2);
  }
  return v.toFixed(2);
}
