"""DiffTriplet training: BCE pos_weight, the two losses, settings, and DiffAct's loop resuming exactly."""
import pytest
import torch

from bench.datasets.cholec_triplet import GeneratedSurgicalVideos
from bench.methods.diffact.model import ASDiffusionModel
from bench.methods.diffact.training import LATEST
from bench.methods.difftriplet.training import TripletTrainSettings, joint_losses, pos_weights, train_difftriplet

TINY_MODEL = dict(
    encoder_params=dict(num_layers=2, num_f_maps=8, input_dim=12, kernel_size=3, normal_dropout_rate=0.1,
                        channel_dropout_rate=0.1, temporal_dropout_rate=0.1, feature_layer_indices=[0, 1]),
    decoder_params=dict(num_layers=2, num_f_maps=8, time_emb_dim=16, kernel_size=3, dropout_rate=0.1),
    diffusion_params=dict(timesteps=1000, sampling_timesteps=2, cond_types=["full", "full", "zero"]))
LOSS_WEIGHTS = {"encoder_bce_loss": 0.5, "decoder_bce_loss": 0.5}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("surgical") / "videos"
    return GeneratedSurgicalVideos(videos_per_fold=1, frames=(20, 30), feature_dim=12, subset="train", root=root)


def test_pos_weights_are_negatives_over_positives_plus_ten():
    targets = [torch.zeros(30, 131), torch.zeros(10, 131)]
    targets[0][:5, 0] = 1  # triplet 0: 5 positives of 40 frames
    targets[1][:, 100] = 1  # instrument 0: 10 positives
    weights = pos_weights(targets, ["ivt", "i"])
    assert weights[0] == pytest.approx(35 / 15) and weights[1] == pytest.approx(40 / 10)
    assert weights[100] == pytest.approx(30 / 20)
    assert torch.all(weights[106:] == 1)  # verb and target channels not weighted
    assert torch.all(pos_weights(targets, []) == 1)


def test_joint_losses_are_the_two_bces(videos):
    torch.manual_seed(0)
    model = ASDiffusionModel(**TINY_MODEL, num_classes=131, activation="sigmoid").eval()  # no dropout
    feats = videos[0]["features"]
    target = videos.targets[0].T.unsqueeze(0).float()
    losses = joint_losses(model, feats, target, "full", None)
    assert sorted(losses) == ["decoder_bce_loss", "encoder_bce_loss"]
    encoder_logits = model.encode(feats)[0]
    expected = torch.nn.functional.binary_cross_entropy_with_logits(encoder_logits, target)
    assert losses["encoder_bce_loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    weighted = joint_losses(model, feats, target, "zero", torch.full((131,), 3.0))
    assert weighted["encoder_bce_loss"] > losses["encoder_bce_loss"]  # positives count three times
    with pytest.raises(ValueError, match="cond_type"):
        joint_losses(model, feats, target, "segment=1", None)


def test_settings_validate_their_keys():
    with pytest.raises(ValueError, match="loss_weights"):
        TripletTrainSettings(epochs=1, loss_weights={"encoder_bce_loss": 1.0})
    with pytest.raises(ValueError, match="class_weighting"):
        TripletTrainSettings(epochs=1, class_weighting=["iv"])


def train(videos, work_dir, epochs, resume=True):
    torch.manual_seed(0)
    model = ASDiffusionModel(**TINY_MODEL, num_classes=131, activation="sigmoid")
    settings = TripletTrainSettings(epochs=epochs, batch_size=2, lr=1e-3, seed=1, loss_weights=LOSS_WEIGHTS,
                                    class_weighting=["ivt"])
    last = train_difftriplet(model, videos.targets, lambda i: videos[i]["features"], work_dir, torch.device("cpu"),
                             settings, resume=resume)
    return last, model


def test_training_resumes_bit_for_bit(videos, tmp_path):
    last, straight = train(videos, tmp_path / "straight", epochs=3)
    assert last.name == "epoch-2.model" and last.is_file()
    train(videos, tmp_path / "resumed", epochs=2)
    assert (tmp_path / "resumed" / LATEST).is_file()
    _, resumed = train(videos, tmp_path / "resumed", epochs=3)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    _, other = train(videos, tmp_path / "fresh", epochs=1)
    key = "encoder.conv_out.weight"
    assert not torch.equal(other.state_dict()[key], straight.state_dict()[key])
