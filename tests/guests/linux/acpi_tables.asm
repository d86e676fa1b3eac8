; Finding 5 of the Linux boot: the ACPI tables. The kernel finds the RSDP in the BIOS area
; (0xE0000-0xFFFFF, on a 16-byte boundary), follows it to the RSDT and its FACP (FADT), whose
; PM1a_CNT_BLK and DSDT's \_S5 package let `poweroff -f` write SLP_TYP|SLP_EN; HPET and APIC (MADT)
; tables give it the HPET reference for TSC calibration and the boot CPU's APIC id. Under QEMU,
; SeaBIOS installs QEMU's tables before any -kernel runs. Ours enters a -kernel without firmware and
; builds no tables: "ACPI BIOS Error (bug): A valid RSDP was not found", and no ACPI poweroff.
%include "multiboot.inc"

main:
    mov esi, 0xe0000
.scan:
    cmp dword [esi], 'RSD '
    jne .next
    cmp dword [esi + 4], 'PTR '
    je .found
.next:
    add esi, 16
    cmp esi, 0x100000
    jb .scan
    PRINT "no RSDP", 10
    ret
.found:
    PRINT "RSDP rev "
    movzx eax, byte [esi + 15]
    call hex32
    call newline
    ; RSDT: a header (36 bytes), then 32-bit table pointers
    mov ebx, [esi + 16]
    mov ecx, [ebx + 4]
    sub ecx, 36
    shr ecx, 2
    lea edi, [ebx + 36]
.table:
    mov ebx, [edi]
    mov eax, [ebx]
    PRINT "table "
    call putc
    shr eax, 8
    call putc
    shr eax, 8
    call putc
    shr eax, 8
    call putc
    cmp dword [ebx], 'FACP'
    jne .more
    PRINT " pm1a_cnt "
    mov eax, [ebx + 64]
    call hex32
    PRINT " sci "
    movzx eax, word [ebx + 46]
    call hex32
    ; \_S5_ in the DSDT
    mov edx, [ebx + 40]
    mov ecx, [edx + 4]
    PRINT " dsdt_S5 "
    xor eax, eax
.s5:
    cmp dword [edx], '_S5_'
    je .s5found
    inc edx
    dec ecx
    jnz .s5
    jmp .s5done
.s5found:
    mov eax, 1
.s5done:
    call hex32
.more:
    call newline
    add edi, 4
    dec ecx
    mov ecx, [esi + 16]
    mov ecx, [ecx + 4]
    sub ecx, 36
    shr ecx, 2
    mov eax, edi
    sub eax, [esi + 16]
    sub eax, 36
    shr eax, 2
    cmp eax, ecx
    jb .table
    ret
