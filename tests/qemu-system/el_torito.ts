/**
 * A minimal El Torito CD image for the tests (no ISO tools are installed): primary volume
 * descriptor, boot record pointing at a boot catalog, terminator, and one no-emulation boot entry
 * loading 2048 bytes of the boot image at 0000:7C00. Enough for SeaBIOS's CD boot; there is no file
 * system on it.
 */

const SECTOR = 2048;
const BOOT_CATALOG = 19;
const BOOT_IMAGE = 20;
const SECTORS = 24;

export function elToritoImage(bootImage: Uint8Array): Uint8Array {
  const iso = new Uint8Array(SECTOR * SECTORS);
  const v = new DataView(iso.buffer);
  const ascii = (at: number, text: string) => iso.set(new TextEncoder().encode(text), at);
  const descriptor = (sector: number, type: number) => {
    const at = sector * SECTOR;
    iso[at] = type;
    ascii(at + 1, "CD001");
    iso[at + 6] = 1;
    return at;
  };
  // Primary volume descriptor: sizes in both byte orders, as ISO 9660 stores them.
  const pvd = descriptor(16, 1);
  v.setUint32(pvd + 80, SECTORS, true);
  v.setUint32(pvd + 84, SECTORS, false);
  v.setUint16(pvd + 128, SECTOR, true);
  v.setUint16(pvd + 130, SECTOR, false);
  iso[pvd + 881] = 1;
  const brvd = descriptor(17, 0);
  ascii(brvd + 7, "EL TORITO SPECIFICATION");
  v.setUint32(brvd + 0x47, BOOT_CATALOG, true);
  descriptor(18, 255);
  // Validation entry (x86, key bytes 55 AA, words summing to 0), then the initial/default entry.
  const catalog = BOOT_CATALOG * SECTOR;
  iso[catalog] = 1;
  iso[catalog + 30] = 0x55;
  iso[catalog + 31] = 0xaa;
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum += v.getUint16(catalog + i, true);
  v.setUint16(catalog + 28, (0x10000 - (sum & 0xffff)) & 0xffff, true);
  iso[catalog + 32] = 0x88; // bootable, no emulation
  v.setUint16(catalog + 38, 4, true); // four 512-byte virtual sectors
  v.setUint32(catalog + 40, BOOT_IMAGE, true);
  iso.set(bootImage, BOOT_IMAGE * SECTOR);
  return iso;
}
