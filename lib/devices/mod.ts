/** PC devices and the Bus they share with the CPU. */
export * from "./bus.ts";
export * from "./clock.ts";
export * from "./irq.ts";
export * from "./pic.ts";
export * from "./pit.ts";
export * from "./port_b.ts";
export * from "./rtc.ts";
export * from "./chardev.ts";
export * from "./uart.ts";
export * from "./i8042.ts";
export * from "./legacy_ports.ts";
export * from "./fw_cfg.ts";
export * from "./pci.ts";
export * from "./i440fx.ts";
export * from "./piix3.ts";
export * from "./acpi_pm.ts";
