"""Measurement helper: do MSD_vgg / MTT_vgg tag the windows as MSD_musicnn / MTT_musicnn do?

    .venv/bin/python scripts/musicnn_vgg_tagcheck.py MSD.npz[+..] MTT.npz[+..] VGG.npz[+..]   (caches as in fit_vgg_measure.py)

Per clean 40 % window: Spearman correlation of the 50 tag probabilities of the two networks, top-5
overlap and same top tag, against the same figures for another track's window (control).
"""
import sys, numpy as np, torch
from fit_vgg_measure import musicnn_layer, _concat
from livedj.encoders.musicnn import load_musicnn
from scipy.stats import spearmanr
msd, mtt, vgg = sys.argv[1:4]
v = _concat(vgg)
for mus, w, vname in ((msd, None, "MSD_vgg"), (mtt, "/tmp/mtt/mtt_musicnn.safetensors", "MTT_vgg")):
    paths, L = musicnn_layer(mus, w)
    model, names = load_musicnn(w)
    with torch.inference_mode():
        t_mus = torch.sigmoid(model.backend.out(torch.from_numpy(np.nan_to_num(L["clean_q"][:, 0])))).numpy()
    row = {p: i for i, p in enumerate(paths)}
    idx = np.asarray([row[p] for p in v["paths"]])
    a, b = t_mus[idx], v[f"{vname}_tags_clean_q"]
    rho = [spearmanr(x, y)[0] for x, y in zip(a, b)]
    perm = np.roll(np.arange(len(b)), len(b) // 2)
    rho_c = [spearmanr(x, y)[0] for x, y in zip(a, b[perm])]
    top = np.mean([len(set(np.argsort(-x)[:5]) & set(np.argsort(-y)[:5])) for x, y in zip(a, b)])
    top_c = np.mean([len(set(np.argsort(-x)[:5]) & set(np.argsort(-y)[:5])) for x, y in zip(a, b[perm])])
    same1 = np.mean(a.argmax(1) == b.argmax(1))
    print(f"{vname} vs {vname.split('_')[0]}_musicnn on {len(b)} clean 40% windows: Spearman of the 50 tags median {np.median(rho):.2f} "
          f"(other track's: {np.median(rho_c):.2f}), top-5 overlap {top:.1f}/5 (other track's {top_c:.1f}), same top tag {same1:.0%}")
    tags = ["rock","pop","alternative","indie","electronic","female vocalists","dance","00s","alternative rock","jazz","beautiful","metal","chillout","male vocalists","classic rock","soul","indie rock","Mellow","electronica","80s","folk","90s","chill","instrumental","punk","oldies","blues","hard rock","ambient","acoustic","experimental","female vocalist","guitar","Hip-Hop","70s","party","country","easy listening","sexy","catchy","funk","electro","heavy metal","Progressive rock","60s","rnb","indie pop","sad","House","happy"] if vname == "MSD_vgg" else None
    if tags:
        for i in range(0, len(b), max(1, len(b) // 4)):
            print("   ", v["paths"][i].split("/tracks/")[1][:50], "| musicnn:", [tags[j] for j in np.argsort(-a[i])[:3]], "| vgg:", [tags[j] for j in np.argsort(-b[i])[:3]])
