//! Every shader parses and validates with naga, with no adapter needed (as naga's own tests
//! do), and every file under shaders/ belongs to a kernel family.
use shadergrad::gpu::validate_wgsl;
use shadergrad::kernels::Family;

#[test]
fn every_family_source_validates() {
    let mut failures = Vec::new();
    for family in Family::ALL {
        if let Err(e) = validate_wgsl(&family.source()) {
            failures.push(format!("{}:\n{e}", family.file()));
        }
    }
    assert!(
        failures.is_empty(),
        "invalid shaders:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_shader_file_is_used_by_a_family() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let used = Family::ALL
            .iter()
            .any(|f| f.file() == name || f.preludes().contains(&text.as_str()));
        assert!(used, "shaders/{name} is not part of any kernel family");
    }
}
