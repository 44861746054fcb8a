//! `--hparam NAME=VALUE`: parsing, per-model names (unknown ones are errors that list the
//! known ones), the overrides reaching the built model, and a run's config carrying them so
//! `eval` rebuilds the same model.

mod common;

use shadergrad::data::dataset::ImageShape;
use shadergrad::models::hparams::{parse, Hparams};
use shadergrad::models::{by_name_with, NAMES};
use shadergrad::train::checkpoint::TensorFile;

fn hp(items: &[&str]) -> Hparams {
    parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

fn shapes(name: &str, h: &Hparams) -> Vec<(String, Vec<usize>)> {
    let m = by_name_with(name, ImageShape::MNIST, h).unwrap();
    m.params().into_iter().map(|p| (p.name, p.shape)).collect()
}

fn shape_of(all: &[(String, Vec<usize>)], name: &str) -> Vec<usize> {
    all.iter().find(|(n, _)| n == name).unwrap().1.clone()
}

#[test]
fn parse_rejects_malformed_items_and_keeps_the_last_value() {
    for bad in ["gamma", "=1", "gamma=", " = "] {
        let e = parse(&[bad.to_string()]).unwrap_err().to_string();
        assert!(e.contains("NAME=VALUE"), "{bad}: {e}");
    }
    let h = hp(&["gamma=1", "gamma = 2"]);
    assert_eq!(h.get("gamma").map(String::as_str), Some("2"));
}

#[test]
fn overrides_reach_the_model() {
    let dim = shapes("dim", &hp(&["widths=8,12,20", "latent=7", "disc_hidden=9"]));
    assert_eq!(shape_of(&dim, "conv1.weight"), vec![8, 1, 3, 3]);
    assert_eq!(shape_of(&dim, "conv3.weight"), vec![20, 12, 3, 3]);
    assert_eq!(shape_of(&dim, "fc_mu.weight"), vec![7, 20]);
    assert_eq!(shape_of(&dim, "t2.conv1.weight"), vec![9, 12 + 7, 1, 1]);
    // The dot critic replaces the concat critics' parameters with its embeddings.
    let dot = shapes("dim", &hp(&["critic=dot", "disc_hidden=10"]));
    assert_eq!(shape_of(&dot, "t2.phi.conv1.weight"), vec![10, 32, 1, 1]);
    assert!(dot.iter().all(|(n, _)| n != "t2.conv1.weight"));
    // The fc head flattens the last conv map (20 channels at 7x7) into the summary, which
    // the code and the global critic then read.
    let fc = shapes("dim", &hp(&["widths=8,12,20", "head=fc", "head_hidden=30"]));
    assert_eq!(shape_of(&fc, "fc_head.weight"), vec![30, 20 * 7 * 7]);
    assert_eq!(shape_of(&fc, "fc_mu.weight"), vec![64, 30]);
    assert_eq!(shape_of(&fc, "t1.fc1.weight")[1], 30 + 64);
    let vae = shapes("vae", &hp(&["latent=3", "hidden=50"]));
    assert_eq!(shape_of(&vae, "fc21.weight"), vec![3, 50]);
    // The MLP InfoVAE reads the VAE's sizes and its own weights.
    let mmd = shapes("mmd-vae-mlp", &hp(&["latent=4", "lambda=10", "alpha=0.5"]));
    assert_eq!(shape_of(&mmd, "fc21.weight"), vec![4, 400]);
    let gan = shapes(
        "infogan",
        &hp(&["widths=16,24", "hidden=40", "lambda_cat=2"]),
    );
    assert_eq!(shape_of(&gan, "discriminator.conv1.weight")[0], 16);
}

#[test]
fn unknown_names_and_bad_values_are_one_line_errors_naming_what_is_known() {
    let err = |name: &str, items: &[&str]| {
        by_name_with(name, ImageShape::MNIST, &hp(items))
            .err()
            .unwrap_or_else(|| panic!("{name} {items:?} was accepted"))
            .to_string()
    };
    let e = err("dim", &["gama=0"]);
    assert!(
        e.contains("gama") && e.contains("gamma=0.01") && e.contains("widths=16,32,64"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
    assert!(err("classifier", &["x=1"]).contains("no settable hyperparameters"));
    assert!(err("dim", &["widths=3,4"]).contains("3 whole numbers"));
    assert!(err("dim", &["latent=0"]).contains("at least 1"));
    assert!(err("dim", &["gamma=abc"]).contains("expected a number"));
    assert!(err("dim", &["gamma=inf"]).contains("finite"));
    assert!(err("dim", &["critic=bilinear"]).contains("one of concat, dot"));
    assert!(err("dim", &["head=max"]).contains("one of pool, fc"));
    assert!(err("infogan", &["slope=1"]).contains("a number in [0, 1)"));
    assert!(err("infogan", &["q_side=q"]).contains("one of discriminator, generator"));
    // Every model builds at its defaults through the same path.
    for name in NAMES {
        by_name_with(name, ImageShape::MNIST, &Hparams::new()).unwrap();
    }
}

#[test]
fn a_run_saves_its_hyperparameters_and_eval_rebuilds_that_model() {
    let data = common::small_mnist(256, 500);
    let out = tempfile::tempdir().unwrap();
    let run = out.path().join("run");
    let (data_s, run_s) = (data.path().to_str().unwrap(), run.to_str().unwrap());
    common::run_cli(&[
        "train",
        "--model",
        "vae",
        "--hparam",
        "latent=5",
        "--hparam",
        "hidden=32",
        "--epochs",
        "1",
        "--lr-decay",
        "0.5",
        "--lr-decay-every",
        "3",
        "--data-dir",
        data_s,
        "--out",
        run_s,
    ]);
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(config.contains("\"latent\": \"5\""), "{config}");
    assert!(config.contains("\"lr_decay_factor\": 0.5"), "{config}");
    assert!(config.contains("\"lr_decay_every\": 3"), "{config}");
    let ck = TensorFile::load(&run.join("checkpoint.safetensors")).unwrap();
    ck.get("fc21.weight", &[5, 32]).unwrap();
    // eval builds the model from the saved config: with the defaults it could not load.
    let report = common::run_cli(&[
        "eval",
        "--checkpoint",
        run_s,
        "--no-baseline",
        "--queries",
        "100",
    ]);
    assert!(report.contains("D = 5"), "{report}");
    // A resumed run keeps its model: --hparam there is refused with a reason.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_shadergrad"))
        .args(["train", "--resume", run_s, "--hparam", "latent=6"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("resumed run"));
    // A schedule that is no schedule is refused before any work, saying why.
    for (flag, value, says) in [
        ("--lr-decay", "0", "--lr-decay must be a positive factor"),
        (
            "--lr-decay-every",
            "0",
            "--lr-decay-every must be at least 1",
        ),
    ] {
        let bad = std::process::Command::new(env!("CARGO_BIN_EXE_shadergrad"))
            .args(["train", "--model", "vae", flag, value, "--data-dir", data_s])
            .args(["--out", out.path().join("bad").to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!bad.status.success());
        let stderr = String::from_utf8_lossy(&bad.stderr);
        assert!(stderr.contains(says), "{stderr}");
    }
}

/// config.json records every hyperparameter (given or default), so a run rebuilds its model
/// after a default changes: the resolved set names them all, and rebuilds the same shapes.
#[test]
fn resolved_hyperparameters_name_every_setting_and_rebuild_the_same_model() {
    let (_, resolved) =
        shadergrad::models::by_name_resolved("dim", ImageShape::MNIST, &hp(&["gamma=0.1"]))
            .unwrap();
    let names: Vec<&str> = resolved.keys().map(String::as_str).collect();
    for name in [
        "widths",
        "latent",
        "disc_hidden",
        "alpha",
        "beta",
        "gamma",
        "critic",
        "head",
        "head_hidden",
    ] {
        assert!(names.contains(&name), "{name} missing from {resolved:?}");
    }
    assert_eq!(resolved["gamma"], "0.1");
    for name in NAMES {
        let (_, all) =
            shadergrad::models::by_name_resolved(name, ImageShape::MNIST, &Hparams::new()).unwrap();
        assert_eq!(
            shapes(name, &all),
            shapes(name, &Hparams::new()),
            "{name}: {all:?}"
        );
    }
}

/// A run saved before a hyperparameter existed trained with the value the model had then:
/// loading its config fills that value in (InfoGAN's defaults changed after such runs), while
/// a config that records the name keeps it.
#[test]
fn a_saved_run_that_predates_a_name_rebuilds_with_the_value_it_trained_with() {
    use shadergrad::train::config::TrainConfig;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let mut old = TrainConfig::for_model("infogan");
    old.hparams = hp(&["widths=32,64", "lambda_cont=0.1"]);
    old.save(&path).unwrap();
    let loaded = TrainConfig::load(&path).unwrap();
    for (name, value) in [
        ("updates", "simultaneous"),
        ("noise_prior", "normal"),
        ("cont_std", "learned"),
        ("slope", "0.1"),
        ("widths", "32,64"),
    ] {
        assert_eq!(loaded.hparams[name], value, "{name}");
    }
    let rebuilt = shapes("infogan", &loaded.hparams);
    assert!(rebuilt.iter().any(|(n, _)| n == "q.logvar.weight"));
    // A run of today records the new defaults and keeps them.
    let (_, now) =
        shadergrad::models::by_name_resolved("infogan", ImageShape::MNIST, &Hparams::new())
            .unwrap();
    let mut new = TrainConfig::for_model("infogan");
    new.hparams = now.clone();
    new.save(&path).unwrap();
    assert_eq!(TrainConfig::load(&path).unwrap().hparams, now);
    assert_eq!(now["cont_std"], "fixed");
    // Other models are untouched.
    let mut vae = TrainConfig::for_model("vae");
    vae.hparams = hp(&["latent=3"]);
    vae.save(&path).unwrap();
    assert_eq!(TrainConfig::load(&path).unwrap().hparams, hp(&["latent=3"]));
}
