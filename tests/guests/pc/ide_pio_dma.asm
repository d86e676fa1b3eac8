; golden: none
; IDE on the primary master through PIO and bus-master DMA: IDENTIFY, READ SECTORS (PIO) of
; LBA 0, WRITE SECTORS (PIO) of LBA 1, READ DMA of LBAs 2-9 and WRITE DMA of LBAs 10-17, with
; the bus-master registers found through PCI config space (00:01.1 BAR4). Prints the model string,
; checksums of what was read and the status bytes; the test checks the written sectors in the
; image afterwards with qemu-img. Run by tests/qemu-system/ide_test.ts against qemu-system-i386.
%include "multiboot.inc"

%define BUF   0x200000
%define PRD   0x1f0000
%define ATA   0x1f0

main:
    ; IDENTIFY DEVICE
    mov dx, ATA + 6
    mov al, 0xe0
    out dx, al
    mov dx, ATA + 7
    mov al, 0xec
    out dx, al
    call wait_drq
    mov edi, BUF
    mov ecx, 256
    mov dx, ATA
    rep insw
    PRINT "model: "
    mov esi, BUF + 54          ; words 27-46, byte-swapped pairs
    mov ecx, 20
.model:
    mov ax, [esi]
    xchg al, ah
    call putc
    mov al, ah
    call putc
    add esi, 2
    loop .model
    call newline

    ; READ SECTORS, LBA 0, one sector
    mov ebx, 0
    mov cl, 1
    mov al, 0x20
    call ata_command
    call wait_drq
    mov edi, BUF
    mov ecx, 256
    mov dx, ATA
    rep insw
    PRINT "pio read lba0 sum: 0x"
    mov esi, BUF
    mov ecx, 512
    call checksum
    call newline

    ; WRITE SECTORS, LBA 1: bytes i*3+7
    mov edi, BUF
    mov ecx, 512
    xor eax, eax
.pattern1:
    lea edx, [eax * 2 + eax + 7]
    mov [edi + eax], dl
    inc eax
    loop .pattern1
    mov ebx, 1
    mov cl, 1
    mov al, 0x30
    call ata_command
    call wait_drq
    mov esi, BUF
    mov ecx, 256
    mov dx, ATA
    rep outsw
    call wait_ready
    PRINT "pio write status: 0x"
    mov dx, ATA + 7
    in al, dx
    movzx eax, al
    call hex32
    call newline

    ; bus-master base from PCI config of 00:01.1, BAR4 (offset 0x20)
    mov dx, 0xcf8
    mov eax, 0x80000920
    out dx, eax
    mov dx, 0xcfc
    in eax, dx
    and eax, 0xfffc
    mov [bmbase], eax
    ; enable I/O and bus mastering on the IDE function
    mov dx, 0xcf8
    mov eax, 0x80000904
    out dx, eax
    mov dx, 0xcfc
    in ax, dx
    or ax, 5
    out dx, ax

    ; READ DMA, LBAs 2-9 (4 KiB) into BUF
    mov dword [PRD], BUF
    mov dword [PRD + 4], 0x80000000 | 4096
    mov edx, [bmbase]
    add edx, 4
    mov eax, PRD
    out dx, eax
    mov edx, [bmbase]
    add edx, 2
    mov al, 6                  ; clear interrupt and error
    out dx, al
    mov edx, [bmbase]
    mov al, 8                  ; read (device to memory), not started
    out dx, al
    mov ebx, 2
    mov cl, 8
    mov al, 0xc8
    call ata_command
    mov edx, [bmbase]
    mov al, 9                  ; start
    out dx, al
    call wait_dma
    PRINT "dma read lba2-9 sum: 0x"
    mov esi, BUF
    mov ecx, 4096
    call checksum
    call newline

    ; WRITE DMA, LBAs 10-17 from a pattern: byte i ^ 0x5a
    mov edi, BUF
    xor eax, eax
.pattern2:
    mov dl, al
    xor dl, 0x5a
    mov [edi + eax], dl
    inc eax
    cmp eax, 4096
    jb .pattern2
    mov edx, [bmbase]
    add edx, 2
    mov al, 6
    out dx, al
    mov edx, [bmbase]
    xor al, al                 ; write (memory to device), not started
    out dx, al
    mov ebx, 10
    mov cl, 8
    mov al, 0xca
    call ata_command
    mov edx, [bmbase]
    mov al, 1
    out dx, al
    call wait_dma
    PRINT "dma write done", 10
    ; FLUSH CACHE
    mov ebx, 0
    mov cl, 0
    mov al, 0xe7
    call ata_command
    call wait_ready
    ret

; ata_command: LBA28 EBX, count CL, command AL on the master
ata_command:
    push eax
    mov dx, ATA + 2
    mov al, cl
    out dx, al
    mov dx, ATA + 3
    mov al, bl
    out dx, al
    mov dx, ATA + 4
    mov al, bh
    out dx, al
    mov eax, ebx
    shr eax, 16
    mov dx, ATA + 5
    out dx, al
    shr eax, 8
    and al, 0x0f
    or al, 0xe0
    mov dx, ATA + 6
    out dx, al
    pop eax
    mov dx, ATA + 7
    out dx, al
    ret

wait_drq:
    mov dx, ATA + 7
.loop:
    in al, dx
    test al, 0x80
    jnz .loop
    test al, 0x08
    jz .loop
    ret

wait_ready:
    mov dx, ATA + 7
.loop:
    in al, dx
    test al, 0x80
    jnz .loop
    ret

; wait_dma: until the bus-master status shows the interrupt, then stop the engine
wait_dma:
    mov edx, [bmbase]
    add edx, 2
.loop:
    in al, dx
    test al, 4
    jz .loop
    PRINT "bm status 0x"
    movzx eax, al
    call hex32
    call newline
    mov edx, [bmbase]
    in al, dx
    and al, 0xfe
    out dx, al
    mov dx, ATA + 7
    in al, dx
    PRINT "ata status 0x"
    movzx eax, al
    call hex32
    call newline
    ret

; checksum: ECX bytes at ESI -> prints a 32-bit rotate-add sum
checksum:
    xor eax, eax
.loop:
    rol eax, 5
    movzx edx, byte [esi]
    add eax, edx
    inc esi
    loop .loop
    call hex32
    ret

bmbase: dd 0
