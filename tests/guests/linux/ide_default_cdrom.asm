; Finding 8 of the Linux boot: QEMU's pc machine always has an (empty) IDE CD-ROM on the secondary
; master (ide1-cd0, a default drive unless -nodefaults), so the kernel lists "scsi 1:0:0:0: CD-ROM
; QEMU DVD-ROM" next to the disk. Ours puts only the -drive devices on the channels. After a soft
; reset an ATAPI device shows its signature in LBA mid/high (0x14, 0xEB); IDENTIFY PACKET DEVICE
; (0xA1) returns its identify words, the model string at words 27-46.
%include "multiboot.inc"

%define SEC_BASE 0x170
%define SEC_CTL  0x376

main:
    ; soft reset of the secondary channel, then select the master
    mov dx, SEC_CTL
    mov al, 0x06                       ; SRST | nIEN
    out dx, al
    mov al, 0x02
    out dx, al
    call wait_bsy                      ; QEMU finishes the reset later (a bottom half)
    mov dx, SEC_BASE + 6
    mov al, 0xa0
    out dx, al
    call wait_bsy
    PRINT "signature "
    mov dx, SEC_BASE + 4
    in al, dx
    movzx eax, al
    call hex32
    mov al, ' '
    call putc
    mov dx, SEC_BASE + 5
    in al, dx
    movzx eax, al
    call hex32
    call newline
    ; IDENTIFY PACKET DEVICE
    mov dx, SEC_BASE + 7
    mov al, 0xa1
    out dx, al
    call wait_bsy
    PRINT "status "
    mov dx, SEC_BASE + 7
    in al, dx
    movzx eax, al
    call hex32
    call newline
    test al, 0x08                      ; DRQ
    jz .done
    mov dx, SEC_BASE
    mov edi, ident
    mov ecx, 256
    rep insw
    PRINT "model "
    mov esi, ident + 27 * 2
    mov ecx, 20
.model:
    lodsw
    xchg al, ah                        ; ATA strings are byte-swapped words
    call putc
    mov al, ah
    call putc
    loop .model
    call newline
.done:
    ret

; wait_bsy: polls the alternate status until BSY clears (bounded)
wait_bsy:
    push ecx
    mov ecx, 1000000
    mov dx, SEC_CTL
.poll:
    in al, dx
    test al, 0x80
    jz .ok
    loop .poll
.ok:
    pop ecx
    ret

ident: times 256 dw 0
