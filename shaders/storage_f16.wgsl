enable f16;

// Storage prelude, f16: the buffers hold f16 (needs SHADER_F16), while the family's file still
// computes in f32, so each result is rounded to f16 once, on store. The `enable` directive must
// open the composed module, so this prelude is always its first text. See storage_f32.wgsl.

alias Elem = f16;
