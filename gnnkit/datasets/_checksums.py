"""SHA-256 checksums and sizes of the original dataset files gnnkit downloads.

Computed from the verified copies in ``<repo>/../shared/datasets`` (each byte-identical to its
upstream blob, as recorded in that folder's SOURCE.txt). Rebuilt or reconstructed files
(``tu-IMDB-BINARY/IMDB-BINARY_A.txt``, ``ogbl-ddi/split/target/train.pt``) are left out: their
upstream bytes differ. Keys are ``<cache folder>/<path inside it>``; values ``(sha256, size)``.
"""

from __future__ import annotations

__all__ = ["CHECKSUMS"]

# fmt: off
CHECKSUMS: dict[str, tuple[str, int]] = {
    "exp/CEXP/GRAPHSAT.txt":
        ("711521591cb429f774cb6864d3fc80ff20e65a1ec14c1874aad9918a3eec332a", 744890),
    "exp/EXP/GRAPHSAT.txt":
        ("16f24a5ad96400b2d53eb5cd2843fb2006e50ed67821f6c4abe5ae23100bf899", 643807),
    "geomgcn-chameleon/chameleon_split_0.6_0.2_0.npz":
        ("36605525b69be4e7df5b31fe6a1d044288c6ebf9f9f0514ca151f6a36afc5e8b", 1775),
    "geomgcn-chameleon/chameleon_split_0.6_0.2_1.npz":
        ("d0779d5a1bedf1967d394468a52c0175fb00595d361fba897faf73322386c952", 1779),
    "geomgcn-chameleon/chameleon_split_0.6_0.2_2.npz":
        ("86ad0d827bf4301dff830598fc0b70d0dd8689c5b4d72dab1d87a6c1970c4c6e", 1777),
    "geomgcn-chameleon/chameleon_split_0.6_0.2_3.npz":
        ("37b3e994adf3afc55e16b617ed05af4e3ce308800755839084d77eced0528e9d", 1755),
    "geomgcn-chameleon/chameleon_split_0.6_0.2_4.npz":
        ("f6b1d067b2b330132839d8b6120077bdc6cf759f7ce421f881a02e2953ec4596", 1778),
    "geomgcn-chameleon/chameleon_split_0.6_0.2_5.npz":
        ("e7661834275c826692510cea0457b18b2c1ee38771f178d06e701b97541a1f6d", 1772),
    "geomgcn-chameleon/chameleon_split_0.6_0.2_6.npz":
        ("16648d1197c1d3a2dec385346212c382030b0d5a8c997f4255aa2afa68a6b174", 1774),
    "geomgcn-chameleon/chameleon_split_0.6_0.2_7.npz":
        ("61adcc53846becefecd466a5364dda23b983d387d1ac5d58c6e24d080c0fcba7", 1764),
    "geomgcn-chameleon/chameleon_split_0.6_0.2_8.npz":
        ("7076ad5341a8218b1f5b6eccf9cfd15d28286ea11ef5c06eeee77af24ff2bf63", 1770),
    "geomgcn-chameleon/chameleon_split_0.6_0.2_9.npz":
        ("743c4f813bf6130398a6511eb9ff07d2366c73bd6c7fddaf226a3f9e2917e0e7", 1773),
    "geomgcn-chameleon/out1_graph_edges.txt":
        ("45ac593de9207470090230c8fd76beeb2f60b5371a9be088e8bf31e7f0619a4b", 332448),
    "geomgcn-chameleon/out1_node_feature_label.txt":
        ("5fd29736ff31b43a1bfcf305bc8b4cffc3103fb0957667976b2ea0f78aedcf5b", 10602901),
    "geomgcn-cornell/cornell_split_0.6_0.2_0.npz":
        ("14022a1e19ec7fc0a07a2c06a785a2f9dc52809dbcd1c14fc318f7800675d73f", 704),
    "geomgcn-cornell/cornell_split_0.6_0.2_1.npz":
        ("5568fa27e968a724c92211bf97026a36a08893cf94b218043e49b4c973c35cfb", 700),
    "geomgcn-cornell/cornell_split_0.6_0.2_2.npz":
        ("763fc1f423395e4172617fa5b6bc0d7adad2241e5fedd1a4f0a098a67f9dc8e9", 695),
    "geomgcn-cornell/cornell_split_0.6_0.2_3.npz":
        ("4334321cd9ec42de9d51107fb9a6dc310512e0921bc1cff0f390301ee37315fa", 701),
    "geomgcn-cornell/cornell_split_0.6_0.2_4.npz":
        ("2b6b3ef396f4dc7fcdc276fb16b88bb87409b25879dd672b3a506eca844dd8d7", 759),
    "geomgcn-cornell/cornell_split_0.6_0.2_5.npz":
        ("1a40ef8b20aa9e1aa850e1abdaba3efac1f66c98ef2c6a59eadefa21136ece6b", 754),
    "geomgcn-cornell/cornell_split_0.6_0.2_6.npz":
        ("bcddf4ab59eae4c7d47b8a6cec9025a54ec0e6d3f3bdcd7678e201f25ace4642", 758),
    "geomgcn-cornell/cornell_split_0.6_0.2_7.npz":
        ("2b497e12dfc123d7e7c9bb4fc4a82b5bee18409e109a3e3a04da439cacec964d", 693),
    "geomgcn-cornell/cornell_split_0.6_0.2_8.npz":
        ("5c4e110d252d7ad156b2e4cd34b6dbd1cecbcc1755f8d72e932cc2a54f2b643c", 701),
    "geomgcn-cornell/cornell_split_0.6_0.2_9.npz":
        ("80f1531807194d301affbf6f879a4ab4f56a19bdccb62d192e3ecd1b5275f052", 704),
    "geomgcn-cornell/out1_graph_edges.txt":
        ("c4522a00cc40873c8a04a3a07c49e24a48a507eb284ac9c9f2d3e0590351bbb7", 2001),
    "geomgcn-cornell/out1_node_feature_label.txt":
        ("cf5a3ca346cdd1210b8342e22517fcbbdae658065b7a3145f59350e50e6236a3", 624308),
    "geomgcn-splits-planetoid/cora_split_0.6_0.2_0.npz":
        ("619931e6c3f0248bf9c7b6be24680a0a617bcfaba661cb0d7afaee8e18a74a51", 1989),
    "geomgcn-splits-planetoid/cora_split_0.6_0.2_1.npz":
        ("d24be667034cb15a55bbf512dbae07b39c758eed66a9ba27106fa795422fe11c", 1958),
    "geomgcn-splits-planetoid/cora_split_0.6_0.2_2.npz":
        ("811fb695c4c9ab0a53ab3a665bf4232652a08a6e38faac5b43a7da43a8454b74", 1967),
    "geomgcn-splits-planetoid/cora_split_0.6_0.2_3.npz":
        ("9d9c19d88a689b76a4b97e8694ef8d20cb0f1b192bbd05a0d5649c91f0cb6ef4", 1956),
    "geomgcn-splits-planetoid/cora_split_0.6_0.2_4.npz":
        ("3040b6bc0ddfff3757d55f514becf0b1b6b2e382114bfb0bc900dbcbb58fca17", 1942),
    "geomgcn-splits-planetoid/cora_split_0.6_0.2_5.npz":
        ("52373862971060e366829930332acabaa90cc6f41019c52bf6c92e4c22f8f093", 2008),
    "geomgcn-splits-planetoid/cora_split_0.6_0.2_6.npz":
        ("07847ea94e8b19970cf86731f19869aac0c56310d27f687d0feb9553d7525dd6", 1944),
    "geomgcn-splits-planetoid/cora_split_0.6_0.2_7.npz":
        ("262573079c8b1f4bc043d32edd3d23a6c36f1d7258efe60c11a6197ba0eee560", 1962),
    "geomgcn-splits-planetoid/cora_split_0.6_0.2_8.npz":
        ("d6c6a2163aeadd103ae386e800e473d2388da866f3f464199180d9b0e2f7d6cc", 1956),
    "geomgcn-splits-planetoid/cora_split_0.6_0.2_9.npz":
        ("9d236d0cf723871d88dea567afe92d50c11d0ffba280349a5cc7f5f2ea42202f", 1948),
    "geomgcn-splits-planetoid/pubmed_split_0.6_0.2_0.npz":
        ("a15825b5bf77ffd2e9179e354f455bb9a6f8c4886cb28796688a38d45d75bdc9", 9669),
    "geomgcn-splits-planetoid/pubmed_split_0.6_0.2_1.npz":
        ("51f2349156410d851859ff4858ecd401d05d024f1a3936250dd8e844a6fd527b", 9664),
    "geomgcn-splits-planetoid/pubmed_split_0.6_0.2_2.npz":
        ("d94a2a3d607f23d7dc88dabb966db7c7da187e0a2af3c848d88ab0c5452c4a2b", 9706),
    "geomgcn-splits-planetoid/pubmed_split_0.6_0.2_3.npz":
        ("62c389ddac567fcd25654db846fc693973c69cddf083f5495d33b592a768515e", 9653),
    "geomgcn-splits-planetoid/pubmed_split_0.6_0.2_4.npz":
        ("3b2bbeb2f4bbee257bb4c626c15c3e3dd0e9da6ed23bf16f6ac520b95e18f84d", 9705),
    "geomgcn-splits-planetoid/pubmed_split_0.6_0.2_5.npz":
        ("23aea01576f71aa165cd70564fb53b3f158d1ff71c1227e062797870fe130551", 9640),
    "geomgcn-splits-planetoid/pubmed_split_0.6_0.2_6.npz":
        ("9122bd4e8e42cab8d33e952693d18d0f49c5f11327b922baefb81228ee903c44", 9701),
    "geomgcn-splits-planetoid/pubmed_split_0.6_0.2_7.npz":
        ("958706e960939c716a5204671c08399864600ce82094755b2e61975137ccfae9", 9710),
    "geomgcn-splits-planetoid/pubmed_split_0.6_0.2_8.npz":
        ("764dd33802022d7ab2595f08f21b424e83007aceeb5f85c9403c74bf791f56f6", 9705),
    "geomgcn-splits-planetoid/pubmed_split_0.6_0.2_9.npz":
        ("b9d4b4362fc02751c168f68f4120ab2fb516f4c84d447571653f1cd692946a66", 9704),
    "geomgcn-texas/out1_graph_edges.txt":
        ("0fe85183243a78cbee9b85a684f8240963d04d1020d10e9cd2b8cfb25e33b476", 2172),
    "geomgcn-texas/out1_node_feature_label.txt":
        ("cf5a3ca346cdd1210b8342e22517fcbbdae658065b7a3145f59350e50e6236a3", 624308),
    "geomgcn-texas/texas_split_0.6_0.2_0.npz":
        ("7ba77bf7a8856fcc0ab15623a611b8cdce994e820f577da914123fb4f45272b0", 698),
    "geomgcn-texas/texas_split_0.6_0.2_1.npz":
        ("21cc244a96e3c51ad7993afb4dd227f90e467d82b964bb42d7d9fc500a6ef87f", 701),
    "geomgcn-texas/texas_split_0.6_0.2_2.npz":
        ("b9e96a699ccf3a4c31ffbd03e52b25570889833425d20fa44e06c37b327cf61e", 756),
    "geomgcn-texas/texas_split_0.6_0.2_3.npz":
        ("1a7deeb1285009789d5e6045d7e39f7d019c9223d9a75a2b7ce5e26d33b51f63", 759),
    "geomgcn-texas/texas_split_0.6_0.2_4.npz":
        ("b5419ff3fe31adcae66fdb085d4f47d0b188e9436ab59f438632af969aafc674", 702),
    "geomgcn-texas/texas_split_0.6_0.2_5.npz":
        ("68405fd1b9ff6105d99717220ecbd198785e338bf4a73abee722bbc9703d2667", 691),
    "geomgcn-texas/texas_split_0.6_0.2_6.npz":
        ("8ad78b973164e70e5ac0d282e79adcbc6006e373909fbdfd72a13131e09040b8", 756),
    "geomgcn-texas/texas_split_0.6_0.2_7.npz":
        ("a84bcbf997365bddf5fdf72ed49dc7e435e475f8c6210f8cdee7c8581a2bd6df", 693),
    "geomgcn-texas/texas_split_0.6_0.2_8.npz":
        ("65ba65f296f91d40d2d7d3c9369b67415094a7e254c6eee48cd6d6531c586fdf", 762),
    "geomgcn-texas/texas_split_0.6_0.2_9.npz":
        ("4306981d654ad8835c000c1f73fb6c1e60dfe99e26c13a6073f3b0f4cc3ce6ee", 693),
    "geomgcn-wisconsin/out1_graph_edges.txt":
        ("ebd213511c88fce1eda450c2f920600c4b8cbb38f02384856bcc47c6ec1807ae", 3606),
    "geomgcn-wisconsin/out1_node_feature_label.txt":
        ("a32b0aa38d42f0d36841e8a8cb646d197f0ff33a182ac75a2b4476aeed3c7e4b", 856324),
    "geomgcn-wisconsin/wisconsin_split_0.6_0.2_0.npz":
        ("f66f641e191d35d491cd3b63d6c2cd93c4b436da398984b44c19a8d4d7e7b1a5", 805),
    "geomgcn-wisconsin/wisconsin_split_0.6_0.2_1.npz":
        ("534aeb97266bd5a85a8587adf8eebad3f2e001c1240610f24b62c0ad0c2466ee", 739),
    "geomgcn-wisconsin/wisconsin_split_0.6_0.2_2.npz":
        ("047a5b641778ec3a4c76055fd7f18ecb2424c0952f20dfff7e1b17749d8acbdd", 747),
    "geomgcn-wisconsin/wisconsin_split_0.6_0.2_3.npz":
        ("706c27b4c51d046c0316f1e915f093e4a1fff48b3436b3e7c421eab596a99e77", 810),
    "geomgcn-wisconsin/wisconsin_split_0.6_0.2_4.npz":
        ("7ee813605eec086457aaff022cf3837f2f893fcf8bd37e3a8d2ff0c80e4c4f87", 812),
    "geomgcn-wisconsin/wisconsin_split_0.6_0.2_5.npz":
        ("8094ac2bdaf2cbea8f7a48df66a0800c809b2fd5942740e6b0441b660d3a0dd5", 749),
    "geomgcn-wisconsin/wisconsin_split_0.6_0.2_6.npz":
        ("c423a8deea9b18f9ecb6cfd703578e2159df167de01fe7e6195b88995010252d", 735),
    "geomgcn-wisconsin/wisconsin_split_0.6_0.2_7.npz":
        ("57ad808c8d4dd94dc4404124370bbcebb3dcc597c2bea6457bf05f220adf1527", 733),
    "geomgcn-wisconsin/wisconsin_split_0.6_0.2_8.npz":
        ("27d4d62a2a6aea2cdc399302237512ab0d64fb0c84e648112f97c5896274e42f", 741),
    "geomgcn-wisconsin/wisconsin_split_0.6_0.2_9.npz":
        ("3c149cd124a19021031609e0d7743a7be59aae4f88c8d38410138e8f06f5daaf", 744),
    "graph8c/graph8c.g6":
        ("0002354f1ab3344a2706626a037ad15367bf23a2163aa68f552c3a169ca9a036", 77819),
    "lightgcn-amazon-book/item_list.txt":
        ("8eee6caf6e666d95fc24ca8e0ec089ee90b1b2d1dc17933726359a6b3ecd62cb", 1546089),
    "lightgcn-amazon-book/test.txt":
        ("6250754994dd953b91b48dccdd77a73f318e0634b4757c2abfcc9d33a54ab0f5", 3848611),
    "lightgcn-amazon-book/user_list.txt":
        ("b59cc7e4a1826e1eb313c4f0557bdafbb70661346d9c93911b97fe0e9fbd7078", 1080734),
    "lightgcn-gowalla/item_list.txt":
        ("6b186f92890cc3f0c15a6dae5d6285f125a302bb8c5ea0cd9a16cf9c16347139", 506926),
    "lightgcn-gowalla/test.txt":
        ("099a2a73924e4b754dc6efd730d764f492321b53c38eb93298850c83acf57be3", 1372559),
    "lightgcn-gowalla/train.txt":
        ("7244696fdeb23911319cf7b689f2e15a3c4c92549c873a5677b44e3f13cc3e62", 4633414),
    "lightgcn-gowalla/user_list.txt":
        ("5344c4d0deef610e1f148f23ad216a0db03b36f88834cd39a06786a672c5f5a1", 351203),
    "lightgcn-yelp2018/item_list.txt":
        ("1091bc824b60561906df552f2f7cb3ec61767b1e46fd4386b44400ae49712007", 1092298),
    "lightgcn-yelp2018/test.txt":
        ("9cd9b37926cd1447a06625ffa7914527573fb097c10cb0bbdb1d1b8ded3742fe", 1986152),
    "lightgcn-yelp2018/user_list.txt":
        ("4931519d8b3c40d71a34cc386c3287b6d63c1be9a82edd7ee6bfad765e640778", 907278),
    "ogbg-molbace/mapping/README.md":
        ("e6b64bdc76f68f18bb3c4c9c9826eefa64be48748848670f6c5a11835d618c3f", 322),
    "ogbg-molbace/mapping/mol.csv.gz":
        ("7a7aed697887bbd1ddcca1aa9e83d069d39e09d800e5961d20b80f1704ba86b5", 16256),
    "ogbg-molbace/raw/edge-feat.csv.gz":
        ("089c1ee7c5561a0e81623780d0808e10feb2aa789a48b1fef260ad3f3494013b", 10220),
    "ogbg-molbace/raw/edge.csv.gz":
        ("014e9475134c9c20300fda5d8115bd0c5f192185cd74c6f8921afc28f6359ce7", 25449),
    "ogbg-molbace/raw/graph-label.csv.gz":
        ("a93fed4e7bf6ef1fe8b6bd79e5a4eb984d9a5ccaa4f51d6cb1accecff836b632", 71),
    "ogbg-molbace/raw/node-feat.csv.gz":
        ("bd031b6fd3d699c2ee4527e778e298bc0ae52439b9b720311789f83803a6025a", 23635),
    "ogbg-molbace/raw/num-edge-list.csv.gz":
        ("78e201ed1abfd581096a3e5ba32a18ccca8e872f89c05bec1f9e52f25a7a5f76", 1521),
    "ogbg-molbace/raw/num-node-list.csv.gz":
        ("ca6e661f0d4323c90543e9539971ba8695a763aac0df2e8e1c6d141985a9a2fa", 1507),
    "ogbg-molbace/split/scaffold/test.csv.gz":
        ("8e6ede054b28f5953912996c1d59c0d8b0c7ef252b3f2679c251d205c8438755", 300),
    "ogbg-molbace/split/scaffold/train.csv.gz":
        ("5f20fb296650872fc91d8af37ed3afdd6d4cd32b52e53763d543bf1b6aa89b26", 2532),
    "ogbg-molbace/split/scaffold/valid.csv.gz":
        ("f06cb03da9a5f5609c4600f1e01148eb54779351086aede3305643335657bd66", 314),
    "ogbg-molesol/mapping/README.md":
        ("e6b64bdc76f68f18bb3c4c9c9826eefa64be48748848670f6c5a11835d618c3f", 322),
    "ogbg-molesol/mapping/mol.csv.gz":
        ("9d35028b2adf47376c1a74d89bb1f21aa584605d17eca8193b37b0c88ef2515d", 17028),
    "ogbg-molesol/raw/edge-feat.csv.gz":
        ("da5e2351193a7ef5cd3d4d78a9527797d52ca64e5af52ea4f14adcafdb0c1693", 4116),
    "ogbg-molesol/raw/edge.csv.gz":
        ("d4fbb9ea8127e76ac915bb650d61db36e5e5ae2695b2e869818e7632d7bec0af", 7414),
    "ogbg-molesol/raw/graph-label.csv.gz":
        ("049ab083983327bd4e2d0bcdb019d6ae4c0316ae676e6add0403a5a7e94c5cad", 2646),
    "ogbg-molesol/raw/node-feat.csv.gz":
        ("1500decb89013de31586a9725b3fe984b84cb2696f8411880ddbb09ecb3112f0", 10519),
    "ogbg-molesol/raw/num-edge-list.csv.gz":
        ("8cc54b817d1f5c999cfd69dc9c09aebdddee942f8fd95f2462fb53699eae9ce0", 1081),
    "ogbg-molesol/raw/num-node-list.csv.gz":
        ("57de66bbe53142b5bd7329e8aa5e7812dfbeffe80b6ba500b14e7d354aaa17ac", 1059),
    "ogbg-molesol/split/scaffold/test.csv.gz":
        ("3a2367389a4d0f2d3cada1ba19d82c83edcb4db58bd564273b14b8a33749cde2", 237),
    "ogbg-molesol/split/scaffold/train.csv.gz":
        ("07a08a743001b8faa61ffb62130ac60e4f89355912fd798da7a471e233cb5d1b", 1798),
    "ogbg-molesol/split/scaffold/valid.csv.gz":
        ("fc4ddf102e27ab6436128e151dc1e83c9f2cf2be3e8c4007543dcf97bd13ff53", 251),
    "ogbg-molfreesolv/mapping/README.md":
        ("e6b64bdc76f68f18bb3c4c9c9826eefa64be48748848670f6c5a11835d618c3f", 322),
    "ogbg-molfreesolv/mapping/mol.csv.gz":
        ("81d2ed64f4366ba1459e4cdb697c080b14e220b73074380ee968b35ed65e175d", 8556),
    "ogbg-molfreesolv/raw/edge-feat.csv.gz":
        ("4452afab3488e10c904273869772d56dbe8999d05f59c295c5da771b243b08d6", 1441),
    "ogbg-molfreesolv/raw/edge.csv.gz":
        ("adafd5b17b4d744d165993e47b1c4b9594ab15b443d4b06914b556ce8068b981", 2587),
    "ogbg-molfreesolv/raw/graph-label.csv.gz":
        ("70f2a5492e15e12efd8232e77de4bcc424a8592ebb59512df511c80047aa5dff", 1425),
    "ogbg-molfreesolv/raw/node-feat.csv.gz":
        ("27bbc31354d94d402d5d3b4036192a0f8dd0cd522cf4ceb579b451e7e3b58098", 4114),
    "ogbg-molfreesolv/raw/num-edge-list.csv.gz":
        ("e33e4a165783062b81f2d163907153f7cc19e6fc177b8039873b11f094d713c2", 574),
    "ogbg-molfreesolv/raw/num-node-list.csv.gz":
        ("ea4163f5cf6745a8f18f270fea7a492765057a8eafb1f54300a2febafb353df9", 567),
    "ogbg-molfreesolv/split/scaffold/test.csv.gz":
        ("03bd483c8c2b4997aa560dd9e2c201faacb1768fb6411df7cfc5b96959e73a6d", 160),
    "ogbg-molfreesolv/split/scaffold/train.csv.gz":
        ("6fbefde21d5380762445203528e5d8f4cee22b2ca57c40047a679c5528f48e83", 970),
    "ogbg-molfreesolv/split/scaffold/valid.csv.gz":
        ("b5c18ff6c6974d6da6f3567ba4eebc9c66f5670b93ea12e0a7bb4f6b82c16bda", 162),
    "ogbl-ddi/RELEASE_v1.txt":
        ("642c335e677fc2bd3fa1bd883b512ae3dd9110bbaa78a5c753d8cbde18d2c9f0", 67),
    "ogbl-ddi/mapping/README.md":
        ("99ff0e0597e2d10c1d85f832d0e3adec3691f30872e10f5ddfd4c2cc48c320aa", 422),
    "ogbl-ddi/mapping/nodeidx2drugid.csv.gz":
        ("06eca54dc8f24f112a307a435ed948a3dc6255185a133f4b64ff1ccb8e22caf0", 20899),
    "ogbl-ddi/raw/edge.csv.gz":
        ("b2c585f425f49b640ee5a3b451069124651ee0f2863a5b6ee6737a6b14c27a6e", 2810105),
    "ogbl-ddi/raw/num-edge-list.csv.gz":
        ("52d2f0c08beb8817e8b42a95b5f110fd90028bd34fa6acef284847377d764d8a", 52),
    "ogbl-ddi/raw/num-node-list.csv.gz":
        ("8462870f1b8c5937c66600aeb460af98d4f9965639fcd30f72f97da95ab374e3", 49),
    "ogbl-ddi/split/target/test.pt":
        ("b45cfcf1695babf5a13e90bdf08988be23570ca76af0737f9d517e005ea7e297", 3888772),
    "ogbl-ddi/split/target/valid.pt":
        ("4a48348f01fad0980a5be269fff7ace300e963144eef22d5ec4fc9830df872ac", 3998900),
    "planetoid-cora/ind.cora.allx":
        ("9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543", 257305),
    "planetoid-cora/ind.cora.ally":
        ("2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71", 47959),
    "planetoid-cora/ind.cora.graph":
        ("58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d", 59847),
    "planetoid-cora/ind.cora.test.index":
        ("297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875", 5000),
    "planetoid-cora/ind.cora.tx":
        ("b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a", 148025),
    "planetoid-cora/ind.cora.ty":
        ("41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad", 28135),
    "planetoid-cora/ind.cora.x":
        ("23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab", 22119),
    "planetoid-cora/ind.cora.y":
        ("94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1", 4054),
    "planetoid-pubmed/ind.pubmed.ally":
        ("0c37bbe3b5014ec365e9d393cf4791925e5ed94fb194305d74f064a8d7b50f0e", 224739),
    "planetoid-pubmed/ind.pubmed.graph":
        ("5b89f0036ca22909471f1e6558eb42fa06e0c730a577bde5b058b40638f81dc9", 471808),
    "planetoid-pubmed/ind.pubmed.test.index":
        ("b101d421688bbaecbd82e8a18f1e282378d6830f3a37666f28ebc47f844341b5", 6000),
    "planetoid-pubmed/ind.pubmed.tx":
        ("4eb5f5d0f30f26497eb0ac6ac9719d09c67e284f1ed0385c93f3ef27a671da3d", 405505),
    "planetoid-pubmed/ind.pubmed.ty":
        ("ee2e0d4819d9fbcc403689c3bf2e49face401b605932f093bc58ab6461130fdd", 12135),
    "planetoid-pubmed/ind.pubmed.x":
        ("fbe9cb5c47200d1b7769a26e579be3b7130b556831f9d850e77c4c74f2599b33", 23172),
    "planetoid-pubmed/ind.pubmed.y":
        ("e6c807633307a07ed659249006536a147c7999c797f11a2560752990181b41b3", 854),
    "sr-graphs/sr16622.g6":
        ("2e258d3499c8e0f4bf1a9b98edb8bb5956bca794a0c07787d5227121044c50c1", 64),
    "sr-graphs/sr251256.g6":
        ("f55f86eb48cd61c3315c62341cc3a8c59289c58504edb3ab859d7ef2068b9aa4", 780),
    "sr-graphs/sr261034.g6":
        ("f0b4b4ad4507835703444c0f0990733e2f7cc31524cf91d04ba4a109f1fd52ac", 570),
    "sr-graphs/sr281264.g6":
        ("3859424c3e8facd4d3be701ff91fe38d5c43c7b7c1c0562a5d912b096a7ed2aa", 260),
    "sr-graphs/sr291467.g6":
        ("ea303aa60f98f01e6cc619884cd7d5716bfc00c38b7feaee080c7ff312781625", 2870),
    "sr-graphs/sr351668.g6":
        ("1d5010ad4da362b1ba600abf02e9abfef9c4204226bcaf01db4926c71c4265b9", 393108),
    "sr-graphs/sr351899.g6":
        ("a63871afc7e8a3a0d390d705c38a40ecc58e22563dcec8fafc9ea2879a361eb7", 23154),
    "sr-graphs/sr361446.g6":
        ("f47de3ca58e807e9edbd13002ce3e71ed3ab813aa1517f8babde7dd0ab075854", 19260),
    "sr-graphs/sr401224.g6":
        ("b899979459e6304bfff848d112d0ac8d738c837e5e21dc6e9d310a386aee8be6", 3696),
    "tu-IMDB-BINARY/IMDB-BINARY_graph_indicator.txt":
        ("415cc3ba25b8c647dcf34d3de034f675ee070616f3b803be939cb26773489f26", 76924),
    "tu-IMDB-BINARY/IMDB-BINARY_graph_labels.txt":
        ("63a44411fd6342b9c4429828c16e144a2a11ef5244e25bb60f0ffa8b3ee2ffce", 2000),
    "tu-MUTAG/MUTAG_A.txt":
        ("d9656ca7493f3445d737c711710bb36fd432dddd1c0ea32e1d4713c86ebd28e2", 76940),
    "tu-MUTAG/MUTAG_edge_labels.txt":
        ("4669ce755075ff86c3240709345745886400908fa637a49310459b9c267b3e56", 14884),
    "tu-MUTAG/MUTAG_graph_indicator.txt":
        ("7d520a4d6c7961c0cdeabe076d8fe27e795b6d373485c9a2b744987e560a2056", 11532),
    "tu-MUTAG/MUTAG_graph_labels.txt":
        ("a1518ea39ba3426bd42f57396b9c4baffe68e9adc718caeeab0119c6591a5f2c", 439),
    "tu-MUTAG/MUTAG_node_labels.txt":
        ("678f429965490e84dd27713017538c995fc05d1621beac910848b600015ee863", 6742),
    "tu-MUTAG/README.txt":
        ("66de65e4826e112482ec680bbbdf7c0af56d826ce935c110786d130b79b76b06", 2611),
    "tu-NCI1/NCI1_A.txt":
        ("2c028eda59a5fe96e2265a63d9ac236901bd9a7dc658498be13cd704a703076d", 3235898),
    "tu-NCI1/NCI1_graph_indicator.txt":
        ("ffe5acfa754b057d5ce0dc725c5aadb631628161886cc040d38c719635257dc5", 585267),
    "tu-NCI1/NCI1_graph_labels.txt":
        ("fae44681e70113f496256ae87eaac33b7836e3a97fe8e023933b84fde6a5c8a2", 8220),
    "tu-NCI1/NCI1_node_labels.txt":
        ("dc0a22b6cbff0c939de00373e823977ba32b358f560e4288d7602f7b51407ee2", 245932),
    "tu-NCI1/README.txt":
        ("1866d918409a22531ef00ff7b0f72200c3a06722342c23c5e3299cebb5cd8757", 2477),
    "zinc-subset/ZINC_Edges.txt":
        ("dbeb1471ca61938333370f3490a28a00657c96f011496ccc8272c4f49d34a03d", 3648947),
    "zinc-subset/ZINC_Labels.txt":
        ("cd7d8cfd2c2200c553f4100e833e4865fc851f552793e5d53fd9121cda782727", 292178),
    "zinc-subset/ZINC_Nodes.txt":
        ("baf64a622e7c3f7ea02dc7eca7d48ebd9c27cc1dd30f29248b21aab7451cb553", 2680904),
    "zinc-subset/ZINC_splits.json":
        ("ffbf7462b32eae34f47e75bf33ae61cfb96865fa00ae788376de8fd9e6d620b5", 72952),
}
# fmt: on
