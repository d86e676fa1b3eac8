; golden: none
; The disk-read benchmark guest (bench/machine_bench.ts): reads the first 64 MiB of the primary
; master by READ DMA, 64 KiB per command through one PRD entry, folding one dword of every sector
; into an XOR so the data is really looked at, then prints the result and exits.
%include "multiboot.inc"

%define BUF     0x200000
%define PRD     0x1f0000
%define ATA     0x1f0
%define TOTAL   (64 * 1024 * 1024 / 512)
%define CHUNK   128

main:
    mov dx, 0xcf8
    mov eax, 0x80000920
    out dx, eax
    mov dx, 0xcfc
    in eax, dx
    and eax, 0xfffc
    mov [bmbase], eax
    mov dx, 0xcf8
    mov eax, 0x80000904
    out dx, eax
    mov dx, 0xcfc
    in ax, dx
    or ax, 5
    out dx, ax
    mov dword [PRD], BUF
    mov dword [PRD + 4], 0x80000000      ; byte count 0 = 64 KiB, end of table
    xor ebp, ebp                          ; LBA
    xor edi, edi                          ; running XOR
.chunk:
    mov edx, [bmbase]
    add edx, 4
    mov eax, PRD
    out dx, eax
    mov edx, [bmbase]
    add edx, 2
    mov al, 6
    out dx, al
    mov edx, [bmbase]
    mov al, 8
    out dx, al
    ; READ DMA, LBA28 EBP, 128 sectors
    mov dx, ATA + 2
    mov al, CHUNK
    out dx, al
    mov eax, ebp
    mov dx, ATA + 3
    out dx, al
    shr eax, 8
    mov dx, ATA + 4
    out dx, al
    shr eax, 8
    mov dx, ATA + 5
    out dx, al
    shr eax, 8
    and al, 0x0f
    or al, 0xe0
    mov dx, ATA + 6
    out dx, al
    mov dx, ATA + 7
    mov al, 0xc8
    out dx, al
    mov edx, [bmbase]
    mov al, 9
    out dx, al
    add edx, 2
.wait:
    in al, dx
    test al, 4
    jz .wait
    mov edx, [bmbase]
    xor al, al
    out dx, al
    mov esi, BUF
    mov ecx, CHUNK
.fold:
    xor edi, [esi]
    add esi, 512
    loop .fold
    add ebp, CHUNK
    cmp ebp, TOTAL
    jb .chunk
    PRINT "read 64 MiB by DMA, xor 0x"
    mov eax, edi
    call hex32
    call newline
    ret

bmbase: dd 0
