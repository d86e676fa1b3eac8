; golden: none
; Finding 5's lost ticks (tests/guests/linux/FINDINGS.md): the PIT at 250 Hz drives IRQ0 (vector 0x20)
; while the CPU runs 200,000 never-seen instructions with interrupts on, three times. The TSC's elapsed
; time, in ticks (TSC per tick measured while halted), should not exceed the ticks counted by more than
; one. It does, on ours and on QEMU's TCG alike: both follow the host clock, and when a slice of cold
; code runs past several timer periods, their interrupts coalesce ("ticks lost", exit status 3; QEMU
; lost about 58 of 244 per round here, ours 483 of 486). No golden and no test: it is the reproducer
; for whoever changes the clock policy (see the finding for the fix that was tried).
%include "multiboot.inc"
%define CODE 0x400000
%define INSNS 200000
main:
    ; IDT with vector 0x20 -> tick handler
    mov eax, tick
    mov [idt + 0x20*8], ax
    mov word [idt + 0x20*8 + 2], cs
    mov word [idt + 0x20*8 + 4], 0x8e00
    shr eax, 16
    mov [idt + 0x20*8 + 6], ax
    lidt [idtr]
    ; PIC: master base 0x20, only IRQ0 unmasked
    mov al, 0x11
    out 0x20, al
    mov al, 0x20
    out 0x21, al
    mov al, 4
    out 0x21, al
    mov al, 1
    out 0x21, al
    mov al, 0xfe
    out 0x21, al
    mov al, 0xff
    out 0xa1, al
    ; PIT ch0 mode 2, 1193182/250 = 4773
    mov al, 0x34
    out 0x43, al
    mov ax, 4773
    out 0x40, al
    mov al, ah
    out 0x40, al
    sti
    ; calibrate: TSC over 25 ticks while halted
    call wait_tick
    rdtsc
    mov [t0], eax
    mov [t0+4], edx
    mov ecx, 25
.cal:
    call wait_tick
    loop .cal
    rdtsc
    sub eax, [t0]
    sbb edx, [t0+4]
    mov ebx, 25
    div ebx
    mov [tsc_per_tick], eax
    ; three rounds of cold code
    mov esi, 3
.round:
    call gen_code
    mov eax, [ticks]
    mov [tick0], eax
    rdtsc
    mov [t0], eax
    mov [t0+4], edx
    call CODE
    rdtsc
    sub eax, [t0]
    sbb edx, [t0+4]
    div dword [tsc_per_tick]
    mov ebx, eax                ; expected ticks
    mov eax, [ticks]
    sub eax, [tick0]            ; counted ticks
    inc eax
    cmp ebx, eax
    ja lost
    PRINT "round ok", 10
    dec esi
    jnz .round
    cli
    ret

; gen_code: INSNS x "add eax, imm32" with varying immediates (new bytes each round), then ret
gen_code:
    push esi
    mov edi, CODE
    mov ecx, INSNS
    mov edx, [round_salt]
.g:
    mov byte [edi], 0x05
    mov [edi+1], edx
    add edi, 5
    add edx, 0x9e3779b9
    loop .g
    mov byte [edi], 0xc3
    mov [round_salt], edx
    pop esi
    ret

lost:
    PRINT "ticks lost", 10
    mov eax, 1
    jmp exit

wait_tick:
    mov eax, [ticks]
.w: hlt
    cmp eax, [ticks]
    je .w
    ret

tick:
    push eax
    inc dword [ticks]
    mov al, 0x20
    out 0x20, al
    pop eax
    iret

ticks: dd 0
tick0: dd 0
t0: dq 0
tsc_per_tick: dd 0
round_salt: dd 0x12345
idtr: dw 256*8-1
      dd idt
align 8
idt: times 256*8 db 0
