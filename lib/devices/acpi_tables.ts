/**
 * ACPI tables describing this PC's devices, for boots without a BIOS (`-kernel` straight into a
 * Linux kernel): RSDP, RSDT, FADT (ACPI 1.0 layout, PM blocks of the PIIX4 function, SCI on IRQ 9,
 * APM control port for ACPI enable), FACS, a DSDT whose AML declares \_S5 (sleep type 0, QEMU's
 * soft-off, so a kernel can power off through PM1a_CNT), the PCI root with its interrupt routing
 * (acpi_pci_root.ts, acpi_pci_links.ts) and QEMU's ISA devices (acpi_isa.ts), the HPET device, and, when the machine has the APICs, a
 * MADT (local APIC, IOAPIC, IRQ0 -> GSI 2 and the level-triggered PCI IRQ overrides QEMU's pc
 * declares, LINT1 as NMI), and a WAET (Windows ACPI emulated-devices table: the PM timer needs
 * one read, as QEMU's says). With SeaBIOS, SeaBIOS provides the tables instead.
 */
import { ACPI_DISABLE, ACPI_ENABLE, ACPI_GPE0_BASE, APM_CNT_PORT } from "./acpi_pm.ts";
import { APIC_DEFAULT_BASE } from "./apic.ts";
import { device, eisaId, int, memory32FixedReadOnly, name, resourceTemplate } from "./aml.ts";
import { amlIsaDevices } from "./acpi_isa.ts";
import { amlIsaBridge, amlPciLinks, amlPciPrt } from "./acpi_pci_links.ts";
import { amlPciRoot } from "./acpi_pci_root.ts";
import { HPET_BASE, HPET_CAP_LO, HPET_LEN } from "./hpet.ts";
import { IOAPIC_DEFAULT_BASE } from "./ioapic.ts";
import { RTC_CENTURY } from "./rtc.ts";

export interface AcpiOptions {
  /** PMBA: the PM1a event block; control at +4, timer at +8 (default 0x600, as SeaBIOS programs). */
  pmBase?: number;
  sciIrq?: number;
  /** Include a MADT: only when the machine wires the local APIC and IOAPIC. */
  apic?: boolean;
  cpus?: number;
  /** Include an HPET table (QEMU's pc has the HPET at 0xFED00000). */
  hpet?: boolean;
  /** OEM ID and table ID fields (QEMU's are "BOCHS " and "BXPC    "). */
  oemId?: string;
  oemTableId?: string;
  /** Declare the PCI root bridge `\_SB.PCI0` in the DSDT, its 32-bit window starting here (end of low RAM). */
  pciMemStart?: number;
  /** The serial ports (0 = COM1) the DSDT declares among the ISA devices under the PCI root. */
  serialPorts?: number[];
}

export interface AcpiLayout {
  /** The 20-byte ACPI 1.0 RSDP, for the BIOS area (0xE0000-0xFFFFF, 16-byte aligned) or the EBDA. */
  rsdp: Uint8Array;
  /** Every other table, to be copied to `base` and reserved as ACPI data (e820 type 3). */
  tables: Uint8Array;
  base: number;
}

const HEADER = 36;
const enc = new TextEncoder();

/** The byte that makes [from, to) sum to zero (ACPI and SMBIOS checksums). */
export function checksum(b: Uint8Array, from = 0, to = b.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum = (sum + b[i]) & 0xff;
  return (0x100 - sum) & 0xff;
}

/** A table with the standard header; checksummed once the body is written. */
class Table {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(
    signature: string,
    length: number,
    revision: number,
    o: Required<Pick<AcpiOptions, "oemId" | "oemTableId">>,
  ) {
    this.bytes = new Uint8Array(length);
    this.view = new DataView(this.bytes.buffer);
    this.bytes.set(enc.encode(signature), 0);
    this.view.setUint32(4, length, true);
    this.bytes[8] = revision;
    this.bytes.set(enc.encode(o.oemId.padEnd(6).slice(0, 6)), 10);
    this.bytes.set(enc.encode(o.oemTableId.padEnd(8).slice(0, 8)), 16);
    this.view.setUint32(24, 1, true); // OEM revision
    this.bytes.set(enc.encode("BXPC"), 28); // creator ID
    this.view.setUint32(32, 1, true); // creator revision
  }
  seal(): Uint8Array {
    this.bytes[9] = 0;
    this.bytes[9] = checksum(this.bytes);
    return this.bytes;
  }
}

/** AML for `Name (_S5, Package (4) { Zero, Zero, Zero, Zero })`. */
const AML_S5 = Uint8Array.from([
  0x08, // NameOp
  0x5f,
  0x53,
  0x35,
  0x5f, // "_S5_"
  0x12, // PackageOp
  0x06, // PkgLength: the 6 bytes from here to the end of the package
  0x04, // NumElements
  0x00,
  0x00,
  0x00,
  0x00, // ZeroOp x4
]);

/**
 * `\_SB.HPET` (PNP0103) with the HPET's registers as its resource, as QEMU's DSDT has it. QEMU's _STA
 * reads the vendor and period registers to hide a broken HPET; ours is always there, so _STA is
 * the constant "present, enabled, shown, functioning".
 */
function amlHpetDevice(): number[] {
  return device(
    "HPET",
    name("_HID", eisaId("PNP0103")),
    name("_UID", int(0)),
    name("_STA", int(0x0f)),
    name("_CRS", resourceTemplate(memory32FixedReadOnly(HPET_BASE, HPET_LEN))),
  );
}

/** FADT flags as QEMU 7.2's pc FADT has them: WBINVD, PROC_C1, SLP_BUTTON, RTC_S4, USE_PLATFORM_CLOCK. */
const FADT_FLAGS = (1 << 0) | (1 << 2) | (1 << 5) | (1 << 7) | (1 << 15);

const WAET_LENGTH = HEADER + 4;
/** Block ID, base address (12-byte GAS), HPET number, minimum tick, page protection. */
const HPET_LENGTH = HEADER + 4 + 12 + 1 + 2 + 1;
/** WAET "ACPI PM timer good": one read of the PM timer suffices (no read-until-stable loop). */
const WAET_PM_TIMER_GOOD = 1 << 1;

/** Lays the tables out for physical address `base` (16-byte aligned; the FACS lands 64-aligned). */
export function buildAcpiTables(base: number, options: AcpiOptions = {}): AcpiLayout {
  const pm = options.pmBase ?? 0x600;
  const ids = { oemId: options.oemId ?? "BOCHS", oemTableId: options.oemTableId ?? "BXPC" };
  const cpus = options.cpus ?? 1;

  const facs = new Uint8Array(64);
  facs.set(enc.encode("FACS"), 0);
  new DataView(facs.buffer).setUint32(4, 64, true);

  // \_SB: PCI0 with its _PRT and ISA bridge (and its devices), then the HPET and the interrupt links.
  const hpetDevice = options.hpet ? amlHpetDevice() : [];
  const isaBridge = amlIsaBridge(amlIsaDevices(options.serialPorts ?? []));
  const pciRoot = options.pciMemStart === undefined
    ? new Uint8Array(0)
    : amlPciRoot(options.pciMemStart, [...amlPciPrt(), ...isaBridge], [...hpetDevice, ...amlPciLinks()]);
  const dsdt = new Table("DSDT", HEADER + AML_S5.length + pciRoot.length, 1, ids);
  dsdt.bytes.set(AML_S5, HEADER);
  dsdt.bytes.set(pciRoot, HEADER + AML_S5.length);

  let madt: Table | undefined;
  if (options.apic) {
    const overrides = [[0, 2, 0x0000], [5, 5, 0x000d], [9, 9, 0x000d], [10, 10, 0x000d], [11, 11, 0x000d]];
    const length = HEADER + 8 + 8 * cpus + 12 + 10 * overrides.length + 6;
    madt = new Table("APIC", length, 1, ids);
    const v = madt.view;
    v.setUint32(HEADER, APIC_DEFAULT_BASE, true);
    v.setUint32(HEADER + 4, 1, true); // PCAT_COMPAT: 8259s present
    let at = HEADER + 8;
    for (let cpu = 0; cpu < cpus; cpu++, at += 8) {
      madt.bytes.set([0, 8, cpu, cpu], at); // processor local APIC: ACPI id, APIC id
      v.setUint32(at + 4, 1, true); // enabled
    }
    madt.bytes.set([1, 12, 0, 0], at); // IOAPIC id 0
    v.setUint32(at + 4, IOAPIC_DEFAULT_BASE, true);
    v.setUint32(at + 8, 0, true); // GSI base
    at += 12;
    for (const [irq, gsi, flags] of overrides) {
      madt.bytes.set([2, 10, 0, irq], at); // interrupt source override, ISA bus
      v.setUint32(at + 4, gsi, true);
      v.setUint16(at + 8, flags, true);
      at += 10;
    }
    madt.bytes.set([4, 6, 0xff, 0, 0, 1], at); // local APIC NMI: all processors, LINT1
  }

  let hpet: Table | undefined;
  if (options.hpet) {
    hpet = new Table("HPET", HPET_LENGTH, 1, ids);
    hpet.view.setUint32(HEADER, HPET_CAP_LO, true); // event timer block ID: the capabilities' low half
    // Base address, a GAS: system memory space, register width/offset/access size 0, as QEMU's.
    hpet.view.setUint32(HEADER + 8, HPET_BASE, true);
    // HPET number 0, minimum periodic tick 0, no page protection: left zero.
  }

  // Placement: FACS first (64-byte aligned), then DSDT, FADT, MADT, HPET, WAET, RSDT.
  const align = (n: number, a: number) => Math.ceil(n / a) * a;
  const facsAt = align(base, 64);
  const dsdtAt = facsAt + 64;
  const fadtAt = align(dsdtAt + dsdt.bytes.length, 16);
  const madtAt = align(fadtAt + 116, 16);
  const hpetAt = align(madtAt + (madt?.bytes.length ?? 0), 16);
  const waetAt = align(hpetAt + (hpet?.bytes.length ?? 0), 16);
  const rsdtAt = align(waetAt + WAET_LENGTH, 16);

  const waet = new Table("WAET", WAET_LENGTH, 1, ids);
  waet.view.setUint32(HEADER, WAET_PM_TIMER_GOOD, true);

  const fadt = new Table("FACP", 116, 1, ids);
  const f = fadt.view;
  f.setUint32(36, facsAt, true);
  f.setUint32(40, dsdtAt, true);
  fadt.bytes[44] = 1; // INT_MODEL, as QEMU sets it whether or not there is a MADT
  f.setUint16(46, options.sciIrq ?? 9, true);
  f.setUint32(48, APM_CNT_PORT, true);
  fadt.bytes[52] = ACPI_ENABLE;
  fadt.bytes[53] = ACPI_DISABLE;
  f.setUint32(56, pm, true); // PM1a_EVT_BLK
  f.setUint32(64, pm + 4, true); // PM1a_CNT_BLK
  f.setUint32(76, pm + 8, true); // PM_TMR_BLK
  f.setUint32(80, ACPI_GPE0_BASE, true); // GPE0_BLK
  fadt.bytes[88] = 4; // PM1_EVT_LEN
  fadt.bytes[89] = 2; // PM1_CNT_LEN
  fadt.bytes[91] = 4; // PM_TMR_LEN
  fadt.bytes[92] = 4; // GPE0_BLK_LEN
  f.setUint16(96, 0x0fff, true); // P_LVL2_LAT: C2 unsupported
  f.setUint16(98, 0x0fff, true); // P_LVL3_LAT: C3 unsupported
  fadt.bytes[108] = RTC_CENTURY;
  f.setUint32(112, FADT_FLAGS, true);

  const entries = [fadtAt, ...(madt ? [madtAt] : []), ...(hpet ? [hpetAt] : []), waetAt];
  const rsdt = new Table("RSDT", HEADER + 4 * entries.length, 1, ids);
  entries.forEach((addr, i) => rsdt.view.setUint32(HEADER + 4 * i, addr, true));

  const end = rsdtAt + rsdt.bytes.length;
  const tables = new Uint8Array(end - base);
  tables.set(facs, facsAt - base);
  tables.set(dsdt.seal(), dsdtAt - base);
  tables.set(fadt.seal(), fadtAt - base);
  if (madt) tables.set(madt.seal(), madtAt - base);
  if (hpet) tables.set(hpet.seal(), hpetAt - base);
  tables.set(waet.seal(), waetAt - base);
  tables.set(rsdt.seal(), rsdtAt - base);

  const rsdp = new Uint8Array(20);
  rsdp.set(enc.encode("RSD PTR "), 0);
  rsdp.set(enc.encode(ids.oemId.padEnd(6).slice(0, 6)), 9);
  rsdp[15] = 0; // revision 0: ACPI 1.0
  new DataView(rsdp.buffer).setUint32(16, rsdtAt, true);
  rsdp[8] = checksum(rsdp);
  return { rsdp, tables, base };
}
