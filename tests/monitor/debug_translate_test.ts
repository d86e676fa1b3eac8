/**
 * The debugger's linear-to-physical translation (lib/virt/monitor/debug_memory.ts) walks the
 * guest's tables with the CPU's own walk, 32-bit and PAE, without its side effects: no accessed
 * flags, no CR2, -1 where the page is not present or an entry has a reserved bit.
 */
import assert from "node:assert/strict";
import { Cpu } from "../../lib/cpu/mod.ts";
import { Bus } from "../../lib/devices/bus.ts";
import { debugTranslate } from "../../lib/virt/monitor/debug_memory.ts";

const PDPT = 0x100020, PD = 0x101000, PT = 0x102000;

function paeCpu() {
  const bus = new Bus({ ramSize: 4 << 20 });
  const cpu = new Cpu(bus);
  bus.write32(PDPT + 3 * 8, PD | 1);
  bus.write32(PD, PT | 3);
  bus.write32(PD + 8, 0x200000 | 0x83); // 2 MiB page
  bus.write32(PT + 5 * 8, 0x345000 | 3);
  bus.write32(PT + 6 * 8, 0x346000 | 3);
  bus.write32(PT + 6 * 8 + 4, 0x100); // address bit 40: reserved
  cpu.cr[0] |= 0x80000001;
  cpu.cr[3] = PDPT;
  cpu.cr[4] |= 0x20;
  return { bus, cpu };
}

Deno.test("debugTranslate follows PAE tables (4 KiB and 2 MiB pages) and sets no accessed flags", () => {
  const { bus, cpu } = paeCpu();
  assert.equal(debugTranslate(cpu, 0xc0005123), 0x345123);
  assert.equal(debugTranslate(cpu, 0xc0212345), 0x212345);
  assert.equal(bus.read32(PT + 5 * 8) & 0x20, 0, "PTE not accessed");
  assert.equal(bus.read32(PD + 8) & 0x20, 0, "2 MiB PDE not accessed");
  assert.equal(debugTranslate(cpu, 0xc0007000), -1, "PTE not present");
  assert.equal(debugTranslate(cpu, 0x00001000), -1, "PDPTE not present");
  assert.equal(debugTranslate(cpu, 0xc0006000), -1, "reserved bit");
  assert.equal(cpu.cr[2], 0);
});
