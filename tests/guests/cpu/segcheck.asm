; Segment limit and access-rights checks on data accesses in protected mode (SDM Vol. 3A, 5.3 and
; 5.4; each instruction's "Protected Mode Exceptions" in Vol. 2): every width at the limit of an
; expand-up segment (SSE and x87 operands too), expand-down segments with B set and clear, writes
; to read-only data and code segments, reads of an execute-only segment, null FS/GS, and
; SS-relative accesses (#SS(0)). Each case prints its name, then "ok" or the exception it raised.
; Test segments go in FS, GS, ES and SS only briefly, so the exception handler's DS stays flat.
;
; QEMU 7.2's TCG performs none of these checks on data accesses, so its golden shows "ok" where
; the SDM faults (and the scratch word its read-only and code-segment stores wrote). The lines that differ because we follow the SDM:
; [differs] rd32 limit-2
; [differs] rd16 limit
; [differs] rd8 limit+1
; [differs] add mem limit-2
; [differs] inc mem limit+1
; [differs] movzx limit
; [differs] bt reg limit+1
; [differs] stosd limit-2
; [differs] movups limit-14
; [differs] movsd st limit-6
; [differs] fld m64 limit-6
; [differs] movsb limit+1
; [differs] ed rd8 limit
; [differs] ed16 rd32 ffff-2
; [differs] ro mov write
; [differs] ro add
; [differs] ro bts
; [differs] ro stosb
; [differs] code write
; [differs] cs: write
; [differs] xo cs: read
; [differs] null fs read
; [differs] null gs write
; [differs] ss ebp limit-2
; [differs] ss enter beyond
; [differs] scratch:
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define NEWGDT  0x280000
%define SEL_RO  0x50                      ; read-only data, base 0, 4 GiB
%define SEL_SM  0x58                      ; writable data, base 0x200000, limit 0xfff, B=1
%define SEL_ED  0x60                      ; expand-down writable, base 0x200000, limit 0xfff, B=1
%define SEL_ED16 0x68                     ; expand-down writable, limit 0xfff, B=0 (up to 0xffff)
%define SEL_XO  0x70                      ; execute-only code, base 0, 4 GiB

; CASE "name", insn: prints the name, runs insn, then "ok" unless it faults
%macro CASE 2+
    PRINT %1, " "
    EXPECT %%after
    %2
    PRINT "ok", 10
%%after:
    mov dword [resume], 0
%endmacro
; CASE2 "name", {setup}, {insn}: the same with setup run just before
%macro CASE2 3
    PRINT %1, " "
    EXPECT %%after
    %2
    %3
    PRINT "ok", 10
%%after:
    mov dword [resume], 0
%endmacro

%macro LOADSEG 2
    mov ax, %2
    mov %1, ax
%endmacro

main:
    call cpu_setup
    PRINT "segcheck", 10
    mov esi, gdt
    mov edi, NEWGDT
    mov ecx, gdt_end - gdt
    rep movsb
    mov esi, extra
    mov ecx, extra_end - extra
    rep movsb
    lgdt [newgdt_desc]
    mov ebx, 0x11223344
    mov dword [0x200ff0], 0

    LOADSEG fs, SEL_SM
    CASE "rd32 limit-3", mov eax, [fs:0xffc]
    CASE "rd32 limit-2", mov eax, [fs:0xffd]
    CASE "rd16 limit-1", mov ax, [fs:0xffe]
    CASE "rd16 limit", mov ax, [fs:0xfff]
    CASE "rd8 limit", mov al, [fs:0xfff]
    CASE "rd8 limit+1", mov al, [fs:0x1000]
    CASE "add mem limit-3", add [fs:0xffc], ebx
    CASE "add mem limit-2", add [fs:0xffd], ebx
    CASE "inc mem limit+1", inc byte [fs:0x1000]
    CASE "movzx limit", movzx eax, word [fs:0xfff]
    mov eax, 0x7fff                       ; bit offset: the dword at 0xffc
    CASE "bt reg limit-3", bt [fs:0], eax
    mov eax, 0x8000                       ; the dword at 0x1000
    CASE "bt reg limit+1", bt [fs:0], eax
    ; SSE and x87 operands: all their bytes within the limit
    mov eax, cr4
    or eax, 0x200                         ; OSFXSR
    mov cr4, eax
    mov eax, cr0
    and eax, ~0x0c
    or eax, 0x22
    mov cr0, eax
    fninit
    CASE "movups limit-15", movups xmm0, [fs:0xff0]
    CASE "movups limit-14", movups xmm0, [fs:0xff1]
    CASE "movsd st limit-7", movsd [fs:0xff8], xmm0
    CASE "movsd st limit-6", movsd [fs:0xff9], xmm0
    CASE "fld m64 limit-7", fld qword [fs:0xff8]
    CASE "fld m64 limit-6", fld qword [fs:0xff9]
    fninit
    LOADSEG es, SEL_SM
    CASE2 "stosd limit-3", {mov edi, 0xffc}, stosd
    CASE2 "stosd limit-2", {mov edi, 0xffd}, stosd
    LOADSEG es, SEL_DATA32
    mov esi, 0x1000
    mov edi, scratch
    CASE "movsb limit+1", fs movsb

    LOADSEG fs, SEL_ED
    CASE "ed rd8 limit", mov al, [fs:0xfff]
    CASE "ed rd8 limit+1", mov al, [fs:0x1000]
    CASE "ed rd32 top", mov eax, [fs:0xfffffffc]
    LOADSEG fs, SEL_ED16
    CASE "ed16 rd32 ffff-3", mov eax, [fs:0xfffc]
    CASE "ed16 rd32 ffff-2", mov eax, [fs:0xfffd]

    LOADSEG fs, SEL_RO
    CASE "ro read", mov eax, [fs:scratch]
    CASE "ro cmp", cmp [fs:scratch], eax
    CASE "ro mov write", mov [fs:scratch], ebx
    CASE "ro add", add [fs:scratch], ebx
    xor eax, eax
    CASE "ro bt", bt [fs:scratch], eax
    CASE "ro bts", bts [fs:scratch], eax
    LOADSEG es, SEL_RO
    mov edi, scratch
    CASE "ro stosb", stosb
    LOADSEG es, SEL_DATA32
    LOADSEG fs, SEL_CODE32
    CASE "code read", mov eax, [fs:scratch]
    CASE "code write", mov [fs:scratch], ebx
    CASE "cs: write", mov [cs:scratch], ebx
    ; an execute-only segment cannot even be loaded into FS: read it through CS
    jmp SEL_XO:.xo
.xo:
    CASE "xo cs: read", mov eax, [cs:scratch]
    jmp SEL_CODE32:.xo_done
.xo_done:
    LOADSEG fs, 0
    LOADSEG gs, 0
    CASE "null fs read", mov eax, [fs:scratch]
    CASE "null gs write", mov [gs:scratch], ebx

    ; SS: the handler's frame must fit, so ESP stays well inside the small stack segment
    mov [saved_esp], esp
    LOADSEG ss, SEL_SM
    mov esp, 0x800
    mov ebp, 0xffc
    CASE "ss ebp limit-3", mov eax, [ebp]
    mov ebp, 0xffd
    CASE "ss ebp limit-2", mov eax, [ebp]
    mov esp, 0x800
    CASE2 "ss pop limit-4", {mov esp, 0xffc}, pop eax
    mov esp, 0x800
    CASE "ss enter beyond", {enter 0x1000, 0}
    mov esp, 0x800
    LOADSEG ss, SEL_DATA32
    mov esp, [saved_esp]
    LOADSEG fs, SEL_DATA32
    LOADSEG gs, SEL_DATA32
    mov eax, [scratch]
    mov esi, m_scratch
    call show
    ret

m_scratch: db "scratch: ", 0
align 8
extra:
    dq 0x00cf90000000ffff                 ; 0x50 read-only data
    dq 0x0040922000000fff                 ; 0x58 small data
    dq 0x0040962000000fff                 ; 0x60 expand-down, B=1
    dq 0x0000962000000fff                 ; 0x68 expand-down, B=0
    dq 0x00cf98000000ffff                 ; 0x70 execute-only code
extra_end:
newgdt_desc: dw 0x77
    dd NEWGDT
saved_esp: dd 0
scratch: dd 0
