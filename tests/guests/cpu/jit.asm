; Block-compiler checks (lib/cpu/jit), recorded on QEMU like every CPU guest:
; 1. every condition code after every kind of flag producer at 8, 16 and 32 bits (and AH/BH),
;    read by SETcc in the producer's block and by a Jcc ending it, over a table of edge operands;
; 2. stores patching code: a hot block patched from another block, and a hot block whose own
;    store patches its next instruction (which must run patched at once);
; 3. faults in the middle of hot blocks (#PF on a load and a store, #DE in a handler-run DIV):
;    the handler must see the faulting instruction's EIP, the instructions before it retired, and
;    the flags as they were at the fault.
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%define UNMAPPED 0x02000000                ; PDE 8 stays not present

; SET4 cc1, cc2, cc3, cc4, offset: four SETcc into CL, CH, DL, DH, stored at ccbuf + offset.
%macro SET4 5
    set%1 cl
    set%2 ch
    set%3 dl
    set%4 dh
    mov [ccbuf + %5], ecx
    mov [ccbuf + %5 + 4], edx
%endmacro

; FLAGS name, setup, producer: for every operand pair (EAX, EBX) of `vals`, runs setup then the
; producer, then all 16 SETcc in one block, and then again for each condition with a Jcc ending
; the producer's block. Prints a checksum of the conditions, the results and [scratch].
%macro FLAGS 3
    PRINT %1
    xor ebp, ebp
    xor esi, esi
%%i:
    xor edi, edi
%%j:
    mov eax, [vals + esi * 4]
    mov ebx, [vals + edi * 4]
    mov [scratch], eax
    xor ecx, ecx
    xor edx, edx
    %2
    %3
    SET4 o, no, b, ae, 0
    SET4 e, ne, be, a, 8
    SET4 s, ns, p, np, 16
    SET4 l, ge, le, g, 24
    mov [ccbuf + 32], eax
    mov [ccbuf + 36], ebx
    mov eax, [scratch]
    mov [ccbuf + 40], eax
    push esi
    xor esi, esi
%%fold:
    rol ebp, 5
    xor ebp, [ccbuf + esi * 4]
    inc esi
    cmp esi, 11
    jb %%fold
    pop esi
%assign cc 0
%rep 16
    mov eax, [vals + esi * 4]
    mov ebx, [vals + edi * 4]
    mov [scratch], eax
    %2
    %3
    mov ecx, 1
    db 0x70 + cc, 5                        ; Jcc over the 5-byte MOV below
    mov ecx, 0
    rol ebp, 1
    add ebp, ecx
%assign cc cc + 1
%endrep
    inc edi
    cmp edi, NVALS
    jb %%j
    inc esi
    cmp esi, NVALS
    jb %%i
    mov eax, ebp
    call hex32
    call newline
%endmacro

main:
    call cpu_setup
    PRINT "jit", 10
    FLAGS "add8   ", nop, {add al, bl}
    FLAGS "add16  ", nop, {add ax, bx}
    FLAGS "add32  ", nop, {add eax, ebx}
    FLAGS "addh   ", nop, {add ah, bh}
    FLAGS "sub8   ", nop, {sub al, bl}
    FLAGS "sub16  ", nop, {sub ax, bx}
    FLAGS "sub32  ", nop, {sub eax, ebx}
    FLAGS "cmp8   ", nop, {cmp al, bl}
    FLAGS "cmp16  ", nop, {cmp ax, bx}
    FLAGS "cmp32  ", nop, {cmp eax, ebx}
    FLAGS "cmph   ", nop, {cmp bh, ah}
    FLAGS "cmpi8  ", nop, {cmp al, 0x80}
    FLAGS "cmpi16 ", nop, {cmp ax, 0x7fff}
    FLAGS "cmpi32 ", nop, {cmp eax, -1}
    FLAGS "cmpm8  ", nop, {cmp byte [scratch], bl}
    FLAGS "cmpm16 ", nop, {cmp bx, [scratch]}
    FLAGS "cmpm32 ", nop, {cmp [scratch], ebx}
    FLAGS "subm32 ", nop, {sub [scratch], ebx}
    FLAGS "and8   ", nop, {and al, bl}
    FLAGS "and32  ", nop, {and eax, ebx}
    FLAGS "or16   ", nop, {or ax, bx}
    FLAGS "xor8   ", nop, {xor al, bl}
    FLAGS "xor32  ", nop, {xor eax, ebx}
    FLAGS "test8  ", nop, {test al, bl}
    FLAGS "test16 ", nop, {test ax, bx}
    FLAGS "test32 ", nop, {test eax, ebx}
    FLAGS "adc8c  ", stc, {adc al, bl}
    FLAGS "adc32n ", clc, {adc eax, ebx}
    FLAGS "sbb16c ", stc, {sbb ax, bx}
    FLAGS "sbb32c ", stc, {sbb eax, ebx}
    FLAGS "inc8c  ", stc, {inc al}
    FLAGS "inc16n ", clc, {inc ax}
    FLAGS "inc32c ", stc, {inc eax}
    FLAGS "dec8n  ", clc, {dec bl}
    FLAGS "dec16c ", stc, {dec bx}
    FLAGS "dec32n ", clc, {dec eax}
    FLAGS "incm16 ", stc, {inc word [scratch]}
    FLAGS "neg8   ", nop, {neg al}
    FLAGS "neg32  ", nop, {neg ebx}
    FLAGS "shl8   ", nop, {shl al, 1}
    FLAGS "sar16  ", nop, {sar ax, 3}
    FLAGS "shr32  ", nop, {shr eax, 31}
    FLAGS "rol32  ", nop, {rol eax, 1}
    call smc_checks
    call fault_checks
    ret

smc_checks:
    ; A hot block patched from another block: the compiled block must die with it.
    xor edx, edx
    mov ecx, 300
.loop1:
    cmp ecx, 100
    jne .body1
    mov byte [.imm1 + 1], 7
.body1:
.imm1:
    mov al, 1
    movzx ebx, al
    add edx, ebx
    dec ecx
    jnz .loop1
    mov eax, edx
    PRINT "smc other block "
    call hex32
    call newline
    ; A hot block whose own store patches its next instruction, on one iteration only.
    xor edx, edx
    mov ecx, 200
.loop2:
    mov edi, scratch
    cmp ecx, 50
    jne .body2
    mov edi, .imm2 + 1
.body2:
    mov byte [edi], 9
.imm2:
    mov al, 1
    movzx ebx, al
    add edx, ebx
    dec ecx
    jnz .loop2
    mov eax, edx
    PRINT "smc same block "
    call hex32
    call newline
    ret

fault_checks:
    ; Paging: 4 MiB pages identity-mapping the first 16 MiB; UNMAPPED's PDE not present.
    mov edi, page_dir
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov eax, 0x83                          ; present, writable, 4 MiB
    mov edi, page_dir
    mov ecx, 4
.pde:
    stosd
    add eax, 0x400000
    loop .pde
    mov eax, cr4
    or eax, 0x10                           ; PSE
    mov cr4, eax
    mov eax, page_dir
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    ; #PF on a load in the middle of a hot block, on its last run.
    EXPECT .after_load
    xor edx, edx
    xor ebx, ebx
    mov ecx, 100
    mov esi, vals + 4
.loop_load:
    cmp ecx, 1
    jne .body_load
    mov esi, UNMAPPED + 0x123
.body_load:
    inc edx
    add ebx, [esi]
    inc edx
    dec ecx
    jnz .loop_load
.after_load:
    call fault_state
    ; #PF on a store.
    EXPECT .after_store
    xor edx, edx
    xor ebx, ebx
    mov ecx, 100
    mov esi, scratch
.loop_store:
    cmp ecx, 1
    jne .body_store
    mov esi, UNMAPPED + 0xffe
.body_store:
    add edx, 3
    mov [esi], dx
    add ebx, edx
    dec ecx
    jnz .loop_store
.after_store:
    call fault_state
    ; #DE from DIV (run by its handler) between inlined instructions.
    EXPECT .after_div
    xor edx, edx
    xor ebx, ebx
    mov ecx, 100
    mov edi, 7
.loop_div:
    cmp ecx, 1
    jne .body_div
    xor edi, edi
.body_div:
    inc ebx
    mov eax, ecx
    xor edx, edx
    div edi
    add ebx, eax
    dec ecx
    jnz .loop_div
.after_div:
    call fault_state
    ; A fault between two flag producers of a hot block: the handler (and IRET) must see the flags of
    ; the first, even though the second overwrites them all when nothing faults.
    EXPECT .after_flags
    mov ecx, 100
    mov esi, vals + 4
.loop_flags:
    cmp ecx, 1
    jne .body_flags
    mov esi, UNMAPPED + 0x40
.body_flags:
    mov eax, 0x80000000
    cmp eax, 1
    mov edx, [esi]
    add eax, eax
    dec ecx
    jnz .loop_flags
.after_flags:
    pushfd
    pop eax
    and eax, 0x8d5
    PRINT "flags at fault "
    call hex32
    call newline
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    ret

; fault_state: prints ECX, EDX, EBX and CR2 after a fault test.
fault_state:
    push eax
    mov eax, ecx
    call hex32
    PRINT " "
    mov eax, edx
    call hex32
    PRINT " "
    mov eax, ebx
    call hex32
    PRINT " "
    mov eax, cr2
    call hex32
    call newline
    pop eax
    ret

vals:
    dd 0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff
    dd 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff, 0x12345678, 0xdeadbeef, 0x00ff00ff, 0x0180
    dd 0x8080, 0x807f
NVALS equ ($ - vals) / 4
scratch: dd 0, 0
ccbuf: times 12 dd 0

section .bss
alignb 4096
page_dir: resb 4096
