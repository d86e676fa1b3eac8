/**
 * The devices' side of QEMU's `-d guest_errors` (LOG_GUEST_ERROR): the lines QEMU 7.2's pc devices
 * write when the guest does something invalid, in QEMU's words. lib/ never prints, so the machine
 * hands the text to a sink the CLI points at the -D file or stderr; with the item off nothing is built.
 *
 * QEMU's pc devices log nothing under `-d unimp` (checked against qemu-system-i386 7.2 with guests
 * poking every device); the CPU's "ILLOPC" lines are the CPU's business, not the devices'.
 */
import type { AccessSize } from "./bus.ts";

const hexUpper = (v: number) => (v >>> 0).toString(16).toUpperCase();

export class DeviceLog {
  /** `-d guest_errors` is on. */
  guestErrors = false;
  /** Where a finished line goes (with its newline). */
  write: (text: string) => void = () => {};

  guestError(text: string): void {
    if (this.guestErrors) this.write(text + "\n");
  }

  /**
   * An access nothing answers (memory.c's memory_region_access_valid on the unassigned region). QEMU
   * splits an unaligned access into the two aligned ones around it and logs each. Inside a page that
   * a device only partly covers (a "subpage", such as the HPET's 1 KiB in its 4 KiB page) each is
   * logged twice: once at the physical address, once at its offset in the page.
   */
  invalidAccess(addr: number, size: AccessSize, isWrite: boolean, subpage = false): void {
    if (!this.guestErrors) return;
    const first = (addr & ~(size - 1)) >>> 0;
    const starts = first === addr ? [first] : [first, first + size];
    for (const at of starts) {
      const offsets = subpage ? [at, at & 0xfff] : [at];
      for (const a of offsets) {
        this.write(
          `Invalid ${isWrite ? "write" : "read"} at addr 0x${hexUpper(a)}, size ${size}, region '(null)', ` +
            `reason: rejected\n`,
        );
      }
    }
  }
}
