; SMBIOS as QEMU 7.2's pc gives it: the fw_cfg files etc/smbios/smbios-anchor (the 2.8 entry point
; template) and etc/smbios/smbios-tables (types 1, 3, 4, 16, 17, 19, 32, 127), then what the
; firmware installed from them: the "_SM_" entry point in the F-segment (checksums, table address,
; SeaBIOS's type 0 counted in) and the structures it points at. Everything is printed in hex, so
; the golden from qemu-system-i386 compares them byte for byte.
%include "multiboot.inc"

%define FW_CFG_SEL  0x510
%define FW_CFG_DATA 0x511

main:
    mov edi, anchor_name
    call dump_file
    mov edi, tables_name
    call dump_file
    ; the entry point SeaBIOS (or our firmware stand-in) left in the F-segment
    mov esi, 0xf0000
.scan:
    cmp dword [esi], '_SM_'
    je .found
    add esi, 16
    cmp esi, 0x100000
    jb .scan
    PRINT "no entry point", 10
    ret
.found:
    PRINT "entry point at "
    mov eax, esi
    call hex32
    call newline
    mov ebx, esi
    mov ecx, 31
    call dump
    PRINT "structures at "
    mov eax, [ebx + 0x18]
    call hex32
    call newline
    movzx ecx, word [ebx + 0x16]
    mov esi, [ebx + 0x18]
    call dump
    ret

; dump_file: prints the fw_cfg file named at EDI (NUL-padded, 56 bytes compared): name, size, bytes.
dump_file:
    mov dx, FW_CFG_SEL
    mov ax, 0x19                        ; the file directory
    out dx, ax
    call read_be32
    mov ebp, eax                        ; entries
.entry:
    test ebp, ebp
    jz .missing
    dec ebp
    call read_be32
    mov [file_size], eax
    call read_be32                      ; select (16 bits), reserved (16 bits)
    shr eax, 16
    mov [file_select], eax
    push edi
    mov esi, edi
    mov ecx, 56
    xor ebx, ebx                        ; mismatches
.name:
    mov dx, FW_CFG_DATA
    in al, dx
    cmp al, [esi]
    je .same
    inc ebx
.same:
    inc esi
    loop .name
    pop edi
    test ebx, ebx
    jnz .entry
    mov esi, edi
    call puts
    PRINT " "
    mov eax, [file_size]
    call hex32
    call newline
    mov dx, FW_CFG_SEL
    mov eax, [file_select]
    out dx, ax
    mov ecx, [file_size]
    mov dx, FW_CFG_DATA
    xor ebx, ebx
.byte:
    in al, dx
    call hex8
    inc ebx
    test ebx, 31
    jnz .more
    call newline
.more:
    loop .byte
    call newline
    ret
.missing:
    mov esi, edi
    call puts
    PRINT " missing", 10
    ret

read_be32:
    push ecx
    mov dx, FW_CFG_DATA
    xor eax, eax
    mov ecx, 4
.b:
    shl eax, 8
    in al, dx
    loop .b
    pop ecx
    ret

; dump: ECX bytes from ESI in hex, 32 a line.
dump:
    push ebx
    xor ebx, ebx
.d:
    lodsb
    call hex8
    inc ebx
    test ebx, 31
    jnz .n
    call newline
.n:
    loop .d
    call newline
    pop ebx
    ret

; hex8: AL as two hex digits.
hex8:
    push eax
    push ebx
    movzx ebx, al
    shr ebx, 4
    mov al, [hex_digits + ebx]
    call putc
    mov bl, [esp + 4]
    and ebx, 15
    mov al, [hex_digits + ebx]
    call putc
    pop ebx
    pop eax
    ret

hex_digits: db "0123456789abcdef"
anchor_name: db "etc/smbios/smbios-anchor"
    times 56 - ($ - anchor_name) db 0
tables_name: db "etc/smbios/smbios-tables"
    times 56 - ($ - tables_name) db 0
file_size: dd 0
file_select: dd 0
