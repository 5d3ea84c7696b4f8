from edge.labels import LABEL_KEYS, LABELS, label_by_key, label_for_folder


def test_four_canonical_labels_in_output_order():
    assert LABEL_KEYS == ("normal", "mi", "abnormal_heartbeat", "history_of_mi")
    assert [label.display_name for label in LABELS] == [
        "Normal",
        "Myocardial Infarction",
        "Abnormal Heartbeat",
        "History of MI",
    ]


def test_folder_names_of_both_layouts_map_to_labels():
    assert label_for_folder("Normal Person ECG Images (284x12=3408)").key == "normal"
    assert label_for_folder("ECG Images of Myocardial Infarction Patients (240x12=2880)").key == "mi"
    assert label_for_folder("ECG Images of Patient that have abnormal heartbeat (233x12=2796)").key == (
        "abnormal_heartbeat"
    )
    assert label_for_folder("ECG Images of Patient that have History of MI (172x12=2064)").key == "history_of_mi"
    assert label_for_folder("history_of_mi").key == "history_of_mi"
    assert label_for_folder("misc") is None
    assert label_by_key("mi").display_name == "Myocardial Infarction"
