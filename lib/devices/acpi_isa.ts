/**
 * AML for the ISA devices of QEMU's pc DSDT, children of the ISA bridge: the i8042's keyboard and
 * mouse, the floppy controller, the parallel port, one COMn per serial port and the RTC, with the
 * names, ids and _CRS QEMU 7.2 gives them (its DSDT, read from a guest's
 * /sys/firmware/acpi/tables/DSDT). Linux's PnP layer enumerates them in this order and names
 * them 00:00, 00:01...; its serial, i8042 and rtc_cmos drivers then bind through PnP, printing
 * "00:04: ttyS0 at I/O 0x3f8" and "rtc_cmos 00:05" as on QEMU.
 *
 * The floppy controller and the parallel port are not emulated here (their ports read all ones,
 * so floppy and parport_pc find no controller), but QEMU's pc always has them and declares them:
 * leaving them out would renumber the devices after them and change the count Linux prints
 * ("PnP ACPI: found 6 devices"). QEMU's FDC0 also holds FLPA, the drive's _FDI/_FDE; with no
 * drive behind it, that child is left out (it has no _HID and is no PnP device).
 */
import { type Aml, device, dma8, eisaId, int, ioPorts, irqNoFlags, name, resourceTemplate } from "./aml.ts";
import { COM_PORTS } from "./uart.ts";

interface IsaDevice {
  name: string;
  hid: string;
  uid?: number;
  /** A constant _STA of 0x0F (present, enabled, shown, functioning), where QEMU declares one. */
  sta: boolean;
  /** IO descriptors: base, alignment, length. */
  io: [base: number, alignment: number, length: number][];
  irq: number;
  dma?: number;
}

const KEYBOARD: IsaDevice = {
  name: "KBD_",
  hid: "PNP0303",
  sta: true,
  io: [[0x60, 1, 1], [0x64, 1, 1]],
  irq: 1,
};
const MOUSE: IsaDevice = { name: "MOU_", hid: "PNP0F13", sta: true, io: [], irq: 12 };
const FLOPPY: IsaDevice = {
  name: "FDC0",
  hid: "PNP0700",
  sta: false,
  io: [[0x3f2, 0, 4], [0x3f7, 0, 1]],
  irq: 6,
  dma: 2,
};
const PARALLEL: IsaDevice = { name: "LPT1", hid: "PNP0400", uid: 1, sta: true, io: [[0x378, 8, 8]], irq: 7 };
const RTC: IsaDevice = { name: "RTC_", hid: "PNP0B00", sta: false, io: [[0x70, 1, 8]], irq: 8 };

const serialPort = (index: number): IsaDevice => ({
  name: `COM${index + 1}`,
  hid: "PNP0501",
  uid: index + 1,
  sta: true,
  io: [[COM_PORTS[index].base, 0, 8]],
  irq: COM_PORTS[index].irq,
});

function isaDevice(d: IsaDevice): Aml {
  const resources = [...d.io.map(([base, alignment, length]) => ioPorts(base, alignment, length))];
  resources.push(irqNoFlags(d.irq));
  if (d.dma !== undefined) resources.push(dma8(d.dma));
  return device(
    d.name,
    name("_HID", eisaId(d.hid)),
    d.uid === undefined ? [] : name("_UID", int(d.uid)),
    d.sta ? name("_STA", int(0x0f)) : [],
    name("_CRS", resourceTemplate(...resources)),
  );
}

/** The ISA bridge's device objects, for the serial ports with these indexes (0 = COM1). */
export function amlIsaDevices(serialPorts: number[]): Aml {
  return [KEYBOARD, MOUSE, FLOPPY, PARALLEL, ...serialPorts.map(serialPort), RTC].flatMap(isaDevice);
}
