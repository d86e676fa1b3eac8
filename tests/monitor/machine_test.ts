/**
 * The monitors driving the real PC board and counter guest: -S's prelaunch state, `info registers`
 * in the layout qemu-system-i386 printed for the same guest (golden/qmp_transcript.json), system
 * reset rebooting the guest, CD-ROM eject/change with DEVICE_TRAY_MOVED, and a guest poweroff
 * reaching QMP clients as SHUTDOWN.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { IdeDrive } from "../../lib/devices/ide.ts";
import { simdState, XMM } from "../../lib/cpu/simd/state.ts";
import { PROJECT } from "../support/tools.ts";
import { QMP_TCP, startVm, STOP_FLAG } from "./vm.ts";
import type { TranscriptStep } from "./qmp_script.ts";

const golden = JSON.parse(
  Deno.readTextFileSync(join(PROJECT, "tests", "monitor", "golden", "qmp_transcript.json")),
) as { transcript: TranscriptStep[] };

/** Polls until `ok` holds (the board runs on the event loop beside the test), failing after 5 s. */
async function waitFor(ok: () => boolean): Promise<void> {
  for (const end = Date.now() + 5000; !ok();) {
    assert.ok(Date.now() < end, "timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Masks values: hex digits, flag letters, decimal fields. */
function layout(text: string): string[] {
  return text.split("\r\n").map((l) =>
    l.replace(/\[[-A-Z]{7}\]/, "[F]").replace(/\b[0-9a-f]{2,16}\b/g, "X").replace(/=\d\b/g, "=D")
  );
}

Deno.test("info registers has QEMU's layout; -S starts in prelaunch; system_reset reboots", async () => {
  const vm = await startVm({ startPaused: true, name: "counter" });
  try {
    const hmp = (line: string) => vm.monitors.hmp.execute(line).replaceAll("\n", "\r\n");
    assert.equal(hmp("info status"), "VM status: paused (prelaunch)\r\n");
    assert.equal(hmp("info name"), "counter\r\n");
    const real = golden.transcript.find((s) => s.sent.includes("info registers"))!.received[0] as {
      return: string;
    };
    const realLines = layout(real.return);
    const ours = layout(hmp("info registers"));
    assert.deepEqual(ours, realLines, hmp("info registers"));
    // XMM values print as QEMU's %016llx %016llx: high quadword, then low.
    simdState(vm.monitors.target.cpu).u32.set([0x33221100, 0x77665544, 0xbbaa9988, 0xffeeddcc], XMM + 4);
    assert.match(hmp("info registers"), /\r\nXMM00=0{16} 0{16} XMM01=ffeeddccbbaa9988 7766554433221100\r\n/);
    assert.match(hmp("info registers"), /^\r\nCPU#0\r\nEAX=2badb002 /);

    hmp("cont");
    await waitFor(() => /^counter guest\n/.test(vm.serial.text()));
    hmp("system_reset");
    await waitFor(() => /^counter guest\n(tick\n)*counter guest\n/.test(vm.serial.text()));
  } finally {
    await vm.shutdown();
  }
});

Deno.test("eject and change move the CD tray with QEMU's events; guest poweroff is SHUTDOWN", async () => {
  const iso = await Deno.makeTempFile({ suffix: ".iso" });
  Deno.writeFileSync(iso, new Uint8Array(1 << 20));
  // No isa-debug-exit here: the guest powers off through ACPI S5.
  const vm = await startVm(
    { qmp: [QMP_TCP] },
    (pc) => pc.ide.channels[1].attach(0, new IdeDrive({ kind: "cdrom" }, 2)),
    false,
  );
  const events: Record<string, unknown>[] = [];
  vm.monitors.target.onEvent((e) => events.push({ event: e.event, data: e.data }));
  try {
    const hmp = (line: string) => vm.monitors.hmp.execute(line);
    assert.equal(hmp(`change ide1-cd0 ${iso} raw`), "");
    assert.match(hmp("info block"), new RegExp(`^ide1-cd0 \\(#block\\d+\\): ${iso} \\(raw, read-only\\)\n`));
    assert.equal(hmp("eject ide1-cd0"), "");
    assert.match(
      hmp("info block"),
      /^ide1-cd0: \[not inserted\]\n.*\n {4}Removable device: not locked, tray open\n/,
    );
    assert.equal(hmp("eject nope"), "Error: Device 'nope' not found\n");
    const tray = events.filter((e) => e.event === "DEVICE_TRAY_MOVED").map((e) => e.data);
    // change on a closed tray opens and closes it; eject opens it (QEMU sends the same three).
    const id = "/machine/unattached/device[24]";
    assert.deepEqual(tray, [
      { device: "ide1-cd0", "tray-open": true, id },
      { device: "ide1-cd0", "tray-open": false, id },
      { device: "ide1-cd0", "tray-open": true, id },
    ]);
    vm.pc.bus.write32(STOP_FLAG, 1);
    assert.deepEqual(await vm.exited, { kind: "shutdown", status: 0, reason: "poweroff" });
    assert.deepEqual(events.at(-1), { event: "SHUTDOWN", data: { guest: true, reason: "guest-shutdown" } });
  } finally {
    await vm.shutdown();
    Deno.removeSync(iso);
  }
});

Deno.test("info irq counts the guest's interrupts; info pic shows both 8259s", async () => {
  const vm = await startVm();
  try {
    const irq = vm.monitors.hmp.execute("info irq");
    assert.match(irq, /^IRQ statistics for isa-i8259:\n/);
    assert.match(
      vm.monitors.hmp.execute("info pic"),
      /^pic1: irr=[0-9a-f]{2} imr=[0-9a-f]{2} isr=[0-9a-f]{2} hprio=\d irq_base=[0-9a-f]{2} rr_sel=\d elcr=[0-9a-f]{2} fnm=\d\npic0: /,
    );
    vm.pc.irq.line(4).pulse();
    vm.pc.irq.line(4).pulse();
    assert.match(vm.monitors.hmp.execute("info irq"), /\n 4: 2\n/);
  } finally {
    await vm.shutdown();
  }
});
