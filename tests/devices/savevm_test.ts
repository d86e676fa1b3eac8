/**
 * Device state for savevm/loadvm: a PC driven by random traffic is saved (through JSON, as it would
 * be stored), a fresh PC is restored from it, and both must then answer the same further traffic
 * with the same values, interrupts, guest memory and serial output.
 */
import assert from "node:assert/strict";
import type { DeviceState, Stateful } from "../../lib/devices/state.ts";
import { pc, traffic } from "./pc_fixture.ts";

type Pc = ReturnType<typeof pc>;

function diskBytes(m: Pc, channel: 0 | 1): Uint8Array {
  const driver = m.devices.ide.channels[channel].drives[0]!.driver!;
  const buf = new Uint8Array(driver.size);
  driver.read(0, buf);
  return buf;
}

function save(m: Pc): string {
  const devices: Record<string, DeviceState> = {};
  for (const [name, dev] of Object.entries(m.devices)) devices[name] = (dev as Stateful).saveState();
  return JSON.stringify({ clock: m.clock.nowNs(), a20: m.bus.a20Mask, devices });
}

function restore(json: string, disks: { hd: Uint8Array; cd: Uint8Array }, ram: Uint8Array): Pc {
  const m = pc(disks);
  const s = JSON.parse(json);
  m.clock.restore(s.clock);
  m.bus.setA20(s.a20 === 0xffffffff);
  m.bus.u8.set(ram);
  // Interrupt controllers last: devices re-drive their lines on load, which must not count as edges.
  const last = ["ioapic", "lapic", "pic"];
  const order = [...Object.keys(m.devices).filter((n) => !last.includes(n)), ...last];
  const devices = m.devices as unknown as Record<string, Stateful>;
  for (const name of order) devices[name].loadState(s.devices[name]);
  return m;
}

Deno.test("savevm: every device's state round-trips through JSON and the restored PC behaves the same", () => {
  for (const seed of [3, 17, 101]) {
    const a = pc();
    traffic(a.bus, a.clock, seed, 4000);
    const json = save(a);
    const disks = { hd: diskBytes(a, 0), cd: diskBytes(a, 1) };
    const b = restore(json, disks, a.bus.u8.slice(0, a.bus.ramSize));
    const again = save(b);
    let at = 0;
    while (at < json.length && again[at] === json[at]) at++;
    assert.ok(again === json, `restored state differs at ${json.slice(Math.max(0, at - 80), at + 20)}`);
    const outA = a.serial.chunks.length;
    const ra = traffic(a.bus, a.clock, seed + 1, 3000);
    const rb = traffic(b.bus, b.clock, seed + 1, 3000);
    assert.deepEqual(rb, ra);
    assert.deepEqual(b.serial.chunks, a.serial.chunks.slice(outA));
    assert.deepEqual(b.bus.u8.subarray(0, b.bus.ramSize), a.bus.u8.subarray(0, a.bus.ramSize));
    assert.deepEqual(diskBytes(b, 0), diskBytes(a, 0));
  }
});
