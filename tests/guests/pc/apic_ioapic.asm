; The APIC path of the PC: the 8259s masked, PIT IRQ0 routed through IOAPIC pin 2 to vector 0x40
; (edge, fixed, to APIC 0), EOIs written to the local APIC; then the local APIC timer in periodic
; mode on vector 0x41. Prints the APIC ID/version and IOAPIC version registers and that the
; interrupts came, nothing that depends on timing.
%include "multiboot.inc"
%include "pic.inc"
%include "idt.inc"

%define IDT    0x80000
%define LAPIC  0xfee00000
%define IOAPIC 0xfec00000

main:
    IDT_FILL IDT, spurious
    GATE IDT, 0x40, pit_irq
    GATE IDT, 0x41, timer_irq
    lidt [idtr]
    ; remap and mask both 8259s so nothing arrives through LINT0
    PIC_INIT
    mov al, 0xff
    out 0x21, al
    out 0xa1, al
    ; software-enable the local APIC, spurious vector 0xff
    mov eax, [LAPIC + 0xf0]
    or eax, 0x1ff
    mov [LAPIC + 0xf0], eax
    PRINT "lapic version 0x"
    mov eax, [LAPIC + 0x30]
    call hex32
    PRINT " id 0x"
    mov eax, [LAPIC + 0x20]
    call hex32
    call newline
    PRINT "ioapic version 0x"
    mov dword [IOAPIC], 1
    mov eax, [IOAPIC + 0x10]
    call hex32
    call newline
    ; IOAPIC pin 2 (the PIT): vector 0x40, fixed, physical, edge, unmasked, destination APIC 0
    mov dword [IOAPIC], 0x10 + 2 * 2 + 1
    mov dword [IOAPIC + 0x10], 0
    mov dword [IOAPIC], 0x10 + 2 * 2
    mov dword [IOAPIC + 0x10], 0x40
    ; PIT channel 0, mode 2, about 1 kHz
    mov al, 0x34
    out 0x43, al
    mov al, 1193 & 0xff
    out 0x40, al
    mov al, 1193 >> 8
    out 0x40, al
    sti
.wait_pit:
    hlt
    cmp dword [pit_ticks], 10
    jb .wait_pit
    cli
    PRINT "ioapic: 10 pit interrupts on vector 0x40", 10
    ; mask pin 2 again
    mov dword [IOAPIC], 0x10 + 2 * 2
    mov dword [IOAPIC + 0x10], 0x10040
    ; local APIC timer: divide by 16, periodic, vector 0x41
    mov dword [LAPIC + 0x3e0], 3
    mov dword [LAPIC + 0x320], 0x20041
    mov dword [LAPIC + 0x380], 100000
    sti
.wait_timer:
    hlt
    cmp dword [timer_ticks], 10
    jb .wait_timer
    cli
    mov dword [LAPIC + 0x320], 0x10041
    PRINT "lapic timer: 10 periodic interrupts on vector 0x41", 10
    PRINT "isr clear after eoi: "
    mov eax, [LAPIC + 0x100 + 0x40]      ; ISR bits 64-95
    test eax, eax
    jnz .busy
    PRINT "yes", 10
    ret
.busy:
    PRINT "no", 10
    ret

SET_GATE_ROUTINE

pit_irq:
    inc dword [pit_ticks]
    mov dword [LAPIC + 0xb0], 0
    iret

timer_irq:
    inc dword [timer_ticks]
    mov dword [LAPIC + 0xb0], 0
    iret

spurious:
    iret

pit_ticks: dd 0
timer_ticks: dd 0
idtr:
    dw 256 * 8 - 1
    dd IDT
