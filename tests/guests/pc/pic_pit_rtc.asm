; Interrupts through the whole PC: remaps the 8259A pair, programs PIT channel 0 (mode 2, 1 kHz)
; and the RTC periodic interrupt (IRQ8 through the slave, 1024 Hz), masks and unmasks lines, and
; counts what arrives while halting. Prints only what does not depend on timing: that ticks came,
; that a masked IRQ stayed away, that EOI ordering kept the slave's interrupt flowing, and the ISR
; and IMR values read back.
%include "multiboot.inc"
%include "pic.inc"
%include "idt.inc"

%define IDT 0x80000

main:
    ; IDT: 256 interrupt gates, all to the spurious handler, then IRQ0 (0x20) and IRQ8 (0x28).
    IDT_FILL IDT, spurious
    GATE IDT, 0x20, irq0
    GATE IDT, 0x28, irq8
    lidt [idtr]
    PIC_INIT                           ; edge, cascade, vectors 0x20/0x28, 8086 mode
    ; mask everything but IRQ0 and the cascade
    mov al, 0xfa
    out 0x21, al
    mov al, 0xff
    out 0xa1, al
    PRINT "imr master 0x"
    in al, 0x21
    movzx eax, al
    call hex32
    call newline
    ; PIT channel 0, lobyte/hibyte, mode 2, divisor 1193 (about 1 kHz)
    mov al, 0x34
    out 0x43, al
    mov al, 1193 & 0xff
    out 0x40, al
    mov al, 1193 >> 8
    out 0x40, al
    sti
.wait_pit:
    hlt
    cmp dword [ticks0], 20
    jb .wait_pit
    cli
    PRINT "pit: 20 ticks seen", 10
    ; RTC periodic interrupt at 1024 Hz on IRQ8 with IRQ0 now masked.
    mov al, 0xfb
    out 0x21, al
    mov al, 0xfe
    out 0xa1, al
    mov al, 0x8a
    out 0x70, al
    mov al, 0x26
    out 0x71, al
    mov al, 0x8b
    out 0x70, al
    in al, 0x71
    or al, 0x40
    mov ah, al
    mov al, 0x8b
    out 0x70, al
    mov al, ah
    out 0x71, al
    mov al, 0x0c
    out 0x70, al
    in al, 0x71
    mov dword [ticks0], 0
    sti
.wait_rtc:
    hlt
    cmp dword [ticks8], 20
    jb .wait_rtc
    cli
    PRINT "rtc: 20 periodic interrupts seen", 10
    PRINT "pit ticks while masked: 0x"
    mov eax, [ticks0]
    call hex32
    call newline
    ; switch the periodic interrupt off again
    mov al, 0x8b
    out 0x70, al
    in al, 0x71
    and al, 0xbf
    mov ah, al
    mov al, 0x8b
    out 0x70, al
    mov al, ah
    out 0x71, al
    PRINT "isr master 0x"
    mov al, 0x0b
    out 0x20, al
    in al, 0x20
    movzx eax, al
    call hex32
    call newline
    ret

SET_GATE_ROUTINE

irq0:
    push eax
    inc dword [ticks0]
    mov al, 0x20
    out 0x20, al
    pop eax
    iret

irq8:
    push eax
    inc dword [ticks8]
    mov al, 0x0c          ; read register C to acknowledge the RTC
    out 0x70, al
    in al, 0x71
    mov al, 0x20
    out 0xa0, al
    out 0x20, al
    pop eax
    iret

spurious:
    iret

ticks0: dd 0
ticks8: dd 0
idtr:
    dw 256 * 8 - 1
    dd IDT
