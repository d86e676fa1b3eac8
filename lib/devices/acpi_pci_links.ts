/**
 * AML for PCI interrupt routing through ACPI, as QEMU's i440fx DSDT declares it: the PCI interrupt
 * link devices LNKA-LNKD (PNP0C0F) over the PIIX3's PIRQ route registers 0x60-0x63 (read through a
 * PCI_Config operation region of the ISA bridge, 00:01.0), LNKS for the ACPI function's SCI (IRQ 9
 * only), and PCI0's _PRT: slot s, pin p goes to link (s + p - 1) & 3 (the PIIX3 swizzle, piix3.ts),
 * except slot 1 pin A, the PIIX4 PM function, which goes to LNKS. Linux then routes PCI IRQs by ACPI
 * ("ACPI: PCI: Interrupt link LNKA configured for IRQ 10", as on QEMU after SeaBIOS set them up).
 *
 * The AML is ours (aml.ts); its names and behaviour are QEMU's, the encoding need not be.
 */
import {
  type Aml,
  and,
  ARG0,
  byteFields,
  call,
  createDWordField,
  device,
  eisaId,
  extendedIrq,
  ifThen,
  int,
  lless,
  method,
  name,
  nameString,
  or,
  packageOf,
  pciConfigRegion,
  resourceTemplate,
  ret,
  store,
} from "./aml.ts";
import { PIIX_PIRQC } from "./piix3.ts";

const LINKS = ["LNKA", "LNKB", "LNKC", "LNKD"];
/** Where SeaBIOS and QEMU let a PIRQ go. */
const LINK_IRQS = [5, 10, 11];
const SCI_IRQ = 9;
const PIRQ_DISABLED = 0x80;
/** _STA: present, enabled, functioning (0x0B) or present and functioning but disabled (0x09). */
const STA_ENABLED = 0x0b, STA_DISABLED = 0x09;
/** The interrupt number's offset in an extended IRQ descriptor (a DWord after the 5-byte head). */
const IRQ_NUMBER_OFFSET = 5;
const PCI_SLOTS = 32;
const PIIX_SLOT = 1;
const ROUTE_REGISTER = (i: number) => `\\_SB_.PCI0.ISA_.PRQ${i}`;

/**
 * The ISA bridge as PCI0's child, exposing the PIRQ route registers as PRQ0-PRQ3, with the ISA
 * devices (acpi_isa.ts) inside it.
 */
export function amlIsaBridge(devices: Aml = []): Aml {
  return device(
    "ISA_",
    name("_ADR", int(0x00010000)),
    pciConfigRegion("P40C", PIIX_PIRQC, 4),
    byteFields("P40C", [["PRQ0", 8], ["PRQ1", 8], ["PRQ2", 8], ["PRQ3", 8]]),
    devices,
  );
}

/** PCI0's _PRT: every slot's four pins. */
export function amlPciPrt(): Aml {
  const entries: Aml[] = [];
  for (let slot = 0; slot < PCI_SLOTS; slot++) {
    for (let pin = 0; pin < 4; pin++) {
      const link = slot === PIIX_SLOT && pin === 0 ? "LNKS" : LINKS[(slot + pin - 1) & 3];
      entries.push(packageOf([int(slot * 0x10000 + 0xffff), int(pin), nameString(link), int(0)]));
    }
  }
  return name("_PRT", packageOf(entries));
}

/** \_SB's helpers and the link devices (they must follow the ISA bridge whose fields they use). */
export function amlPciLinks(): Aml {
  // IQST (route): 0x09 while the PIRQ is disabled, else 0x0B.
  const iqst = method(
    "IQST",
    1,
    false,
    ifThen(and(int(PIRQ_DISABLED), ARG0), ret(int(STA_DISABLED))),
    ret(int(STA_ENABLED)),
  );
  // IQCR (route): the current resource, IRQ 0 when disabled.
  const iqcr = method(
    "IQCR",
    1,
    true,
    name("PRR0", resourceTemplate(extendedIrq([0]))),
    createDWordField(nameString("PRR0"), IRQ_NUMBER_OFFSET, "PRRI"),
    ifThen(lless(ARG0, int(PIRQ_DISABLED)), store(ARG0, nameString("PRRI"))),
    ret(nameString("PRR0")),
  );
  const links = LINKS.map((link, i) => {
    const reg = nameString(ROUTE_REGISTER(i));
    return device(
      link,
      name("_HID", eisaId("PNP0C0F")),
      name("_UID", int(i)),
      name("_PRS", resourceTemplate(extendedIrq(LINK_IRQS))),
      method("_STA", 0, false, ret(call("IQST", reg))),
      method("_DIS", 0, false, or(reg, int(PIRQ_DISABLED), reg)),
      method("_CRS", 0, false, ret(call("IQCR", reg))),
      method(
        "_SRS",
        1,
        false,
        createDWordField(ARG0, IRQ_NUMBER_OFFSET, "PRRI"),
        store(nameString("PRRI"), reg),
      ),
    );
  });
  const lnks = device(
    "LNKS",
    name("_HID", eisaId("PNP0C0F")),
    name("_UID", int(4)),
    name("_PRS", resourceTemplate(extendedIrq([SCI_IRQ]))),
    method("_STA", 0, false, ret(int(STA_ENABLED))),
    method("_SRS", 1, false),
    method("_DIS", 0, false),
    method("_CRS", 0, false, ret(call("IQCR", int(SCI_IRQ)))),
  );
  return [...iqst, ...iqcr, ...links.flat(), ...lnks];
}

/** The PIRQ routing SeaBIOS programs on QEMU's pc: PIRQA/B to IRQ 10, PIRQC/D to IRQ 11. */
export const SEABIOS_PIRQ_IRQS = [10, 10, 11, 11];
