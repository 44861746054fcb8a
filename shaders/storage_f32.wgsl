// Storage prelude, f32: the element type `Elem` of the buffers of a family that exists on two
// storage types (matmul, elementwise). Such a family's file is written once over `Elem` and
// computes in f32: it widens each load with f32(.) / vec4<f32>(.) and rounds each store with
// Elem(.) / vec4<Elem>(.); here both are identity conversions, which compile to nothing.
// storage_f16.wgsl is the f16 twin (Family::preludes picks one per family).

alias Elem = f32;
