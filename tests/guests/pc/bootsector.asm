; golden: none
; A boot sector (not a multiboot kernel): SeaBIOS loads it at 0x7C00 from the first disk. It says
; hello on COM1, which SeaBIOS has initialised, and powers off through ACPI S5 (PM1a_CNT at 0x604,
; where SeaBIOS puts the PIIX4 PM block). Made into a disk image by tests and the benchmark.
[bits 16]
[org 0x7c00]

start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    mov si, message
.next:
    lodsb
    test al, al
    jz .off
    mov ah, al
    mov dx, 0x3fd
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    mov dx, 0x3f8
    mov al, ah
    out dx, al
    jmp .next
.off:
    mov dx, 0x604
    mov ax, 0x2000
    out dx, ax
.halt:
    hlt
    jmp .halt

message: db "Hello from the boot sector.", 13, 10, 0

    times 510 - ($ - $$) db 0
    dw 0xaa55
