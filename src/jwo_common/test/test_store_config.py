import copy
from pathlib import Path

import pytest
import yaml

from jwo_common.store_config import StoreConfigError, load_store_config, parse_store_config

REPO = Path(__file__).resolve().parents[3]
DEMO_STORES = [REPO / 'config' / 'london' / 'store.yaml', REPO / 'config' / 'seattle' / 'store.yaml']


@pytest.fixture
def london() -> dict:
    return yaml.safe_load(DEMO_STORES[0].read_text())


def broken(data: dict, tmp_path: Path) -> str:
    """Writes `data` as a store file and returns the loader's error message."""
    path = tmp_path / 'broken_store.yaml'
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(StoreConfigError) as error:
        load_store_config(path)
    message = str(error.value)
    assert '\n' not in message, 'the error must be one line'
    assert message.startswith(f'{path}: ')
    return message


@pytest.mark.parametrize('path', DEMO_STORES, ids=lambda p: p.parent.name)
def test_demo_stores_load(path):
    config = load_store_config(path)
    slot_skus = {slot.product for shelf in config.shelves for slot in shelf.slots}
    assert slot_skus <= {p.sku for p in config.products}
    assert config.gates_of_kind('entry') and config.gates_of_kind('exit')


def test_demo_stores_differ_in_currency_tax_and_catalogue():
    london, seattle = (load_store_config(p) for p in DEMO_STORES)
    assert (london.store.currency, seattle.store.currency) == ('GBP', 'USD')
    assert london.tax.prices_include_tax and not seattle.tax.prices_include_tax
    assert not {p.sku for p in london.products} & {p.sku for p in seattle.products}


def test_prices_are_integers_and_rates_exact():
    config = load_store_config(DEMO_STORES[1])
    assert all(type(p.price_minor) is int for p in config.products)
    assert str(config.tax.classes['taxable'].rate_percent) == '10.35'
    assert config.store.currency_exponent == 2


def test_missing_field(london, tmp_path):
    del london['shelves'][1]['slots'][2]['channel']
    assert 'shelves[1].slots[2].channel: Field required' in broken(london, tmp_path)


def test_wrong_type(london, tmp_path):
    london['cameras'][0]['width'] = 'wide'
    assert 'cameras[0].width: Input should be a valid integer' in broken(london, tmp_path)


def test_price_as_float_is_refused(london, tmp_path):
    london['products'][3]['price_minor'] = 1.2
    assert 'products[3].price_minor: Input should be a valid integer' in broken(london, tmp_path)


def test_tax_rate_as_float_is_refused(london, tmp_path):
    london['tax']['classes']['standard']['rate_percent'] = 20.0
    assert 'tax.classes.standard.rate_percent: ' in broken(london, tmp_path)


def test_unknown_sku_in_slot(london, tmp_path):
    london['shelves'][0]['slots'][5]['product'] = 'NO-SUCH-SKU'
    message = broken(london, tmp_path)
    assert "shelves[0].slots[5].product: unknown SKU 'NO-SUCH-SKU'" in message


def test_duplicate_camera_id(london, tmp_path):
    london['cameras'][2]['id'] = london['cameras'][0]['id']
    message = broken(london, tmp_path)
    assert "cameras[2].id: duplicate camera id 'cam_01'" in message
    assert "cameras[0].id: duplicate camera id 'cam_01'" in message


def test_duplicate_load_cell_channel(london, tmp_path):
    london['shelves'][2]['slots'][1]['channel'] = 0
    assert 'shelves[2].slots[1].channel: duplicate load-cell channel' in broken(london, tmp_path)


def test_unknown_currency(london, tmp_path):
    london['store']['currency'] = 'GBX'
    assert "store.currency: Value error, an ISO 4217 currency code" in broken(london, tmp_path)


def test_unknown_field_is_a_typo(london, tmp_path):
    london['products'][0]['unit_weight_kg'] = 1.0
    assert 'products[0].unit_weight_kg: Extra inputs are not permitted' in broken(london, tmp_path)


def test_camera_source_variant_is_checked(london, tmp_path):
    london['cameras'][1]['source'] = {'kind': 'realsense', 'serial': '123'}
    assert 'cameras[1].source.serial: Extra inputs are not permitted' in broken(london, tmp_path)


def test_unknown_scanner_camera_and_tax_class(london, tmp_path):
    london['gates'][0]['scanner_camera'] = 'cam_99'
    london['products'][1]['tax_class'] = 'luxury'
    message = broken(london, tmp_path)
    assert "gates[0].scanner_camera: unknown camera 'cam_99'" in message
    assert "products[1].tax_class: unknown tax class 'luxury'" in message


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / 'bad.yaml'
    path.write_text('store:\n  id: x\n  name: [unclosed\n')
    with pytest.raises(StoreConfigError, match=rf'^{path}: line \d+: invalid YAML'):
        load_store_config(path)


def test_not_a_mapping(tmp_path):
    with pytest.raises(StoreConfigError, match='expected a mapping'):
        parse_store_config(['a', 'list'], tmp_path / 'x.yaml')


def test_missing_file(tmp_path):
    with pytest.raises(StoreConfigError, match='cannot read'):
        load_store_config(tmp_path / 'absent.yaml')


def test_calibration_file_resolves_relative_to_config(london, tmp_path):
    camera = london['cameras'][0]
    del camera['intrinsics']
    camera['calibration_file'] = 'calib/cam_01.yaml'
    (tmp_path / 'calib').mkdir()
    (tmp_path / 'calib' / 'cam_01.yaml').write_text('image_width: 320\n')
    path = tmp_path / 'store.yaml'
    path.write_text(yaml.safe_dump(london))
    config = load_store_config(path)
    assert config.resolve_path(config.cameras[0].calibration_file) == \
        (tmp_path / 'calib' / 'cam_01.yaml').resolve()

    broken_copy = copy.deepcopy(london)
    broken_copy['cameras'][0]['calibration_file'] = 'calib/missing.yaml'
    assert 'cameras[0].calibration_file: no such file' in broken(broken_copy, tmp_path)


def test_a_nodes_cameras_are_the_chosen_ones_or_every_depth_camera():
    config = load_store_config(DEMO_STORES[0])
    depth = [c.id for c in config.cameras if c.depth]
    assert config.depth_camera_ids([]) == depth and 'gate_cam' not in depth
    assert config.depth_camera_ids(['cam_02']) == ['cam_02']
    with pytest.raises(ValueError, match=r"parameter cameras: unknown camera\(s\) \['cam_99'\]"):
        config.depth_camera_ids(['cam_02', 'cam_99'])
